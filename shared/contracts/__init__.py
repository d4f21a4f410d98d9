"""What crosses between the orchestrators and the activities: request and result models and the
recorded form of errors. Both layers import this package and neither imports the other.

Belongs here: small payloads (ids, blob paths, numbers), never datasets or traces, because Durable
Functions copies every payload into the orchestration's history."""
