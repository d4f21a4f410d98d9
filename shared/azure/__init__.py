"""Azure OpenAI and ARM: the clients (built once per process, managed identity by default), files and
fine-tuning jobs, deployments, chat calls paced to a deployment's rate limit, failure classification,
and preflight.

Belongs here: every call to Azure OpenAI or ARM, made safe to retry. May import every other package
of ``shared``."""
