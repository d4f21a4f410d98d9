"""OpenTelemetry's data, as the app reads and writes it: the span model every trace in Blob uses,
chat messages in OpenAI and GenAI semantic-convention shapes, and the OTLP protobuf/JSON codec.

Belongs here: what the OpenTelemetry specifications define. Not here: app rules (``domain``) or
storage (``storage``). Imports no other package of ``shared``."""
