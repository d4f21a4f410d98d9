"""The app's rules, free of I/O: settings, the lineage and its champion, the report contract and how
it is read (with how an error or a leak is recorded), cost and rate-limit arithmetic (from Azure's
published rules), the dataset builder and Azure's fine-tuning file format, the Blob layout.

Belongs here: whatever can be decided from values alone and tested without a service. Imports only
``shared.telemetry`` and ``shared.agents`` (settings validate agent and grader names)."""
