"""Behaviour plug-ins: the emulated model's know-how, one module per agent.

``capital`` is the bundled agent's (and the default); ``inventory`` is the example a user copies; the
``base`` contract and the ``scripted`` helper are what a plug-in is written against. emulator/README.md
("Behaviour plug-ins") and docs/agents.md say how to write and load one.
"""
