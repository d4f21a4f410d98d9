"""The artefacts in Blob storage: reading and writing reports, lineages, traces and datasets with
optimistic concurrency, the runs index, production telemetry and feedback, and the dataset step that
reads traces and writes a training file.

Belongs here: Blob I/O. Not here: where a blob lives (``domain.layout``) or Azure OpenAI/ARM
(``azure``)."""
