"""The app's library, split into packages by concern. Each package may import only the ones listed
before it (tests/app/test_layers.py checks it):

1. ``telemetry``: OpenTelemetry's data (the span model, GenAI message shapes, the OTLP codec);
2. ``agents``: agents, their task sets, the recorder of their rollouts' traces, graders;
3. ``domain``: the app's rules (settings, lineage, report contract, cost, rate limits, datasets,
   Azure's fine-tuning file format, the Blob layout), pure: no I/O;
4. ``contracts``: what crosses between orchestrators and activities (requests, results, errors);
5. ``storage``: reading and writing the artefacts in Blob (reports, the runs index, production
   telemetry, datasets);
6. ``azure``: Azure OpenAI and ARM (clients, files and jobs, deployments, paced chat, preflight).
"""
