"""What crosses between the orchestrators and the activities: each activity's spec (its name, request
model and result model, in ``specs``) and those models (``payloads``). Both layers import this package
and neither imports the other. Also what the orchestrations publish to their clients: their outputs
(``payloads``) and a run's custom status (``progress``), read by the HTTP layer.

Belongs here: small payloads (ids, blob paths, numbers), never datasets or traces, because Durable
Functions copies every payload into the orchestration's history."""
