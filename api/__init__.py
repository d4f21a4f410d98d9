"""The Function App's HTTP surface: one blueprint per resource (runs, lineages, dashboard, telemetry).

Triggers here only parse and validate requests and talk to the Durable client or read Blob; the work
happens in orchestrators/ and activities/, the domain lives in shared/.
"""
