"""Local emulator of Azure OpenAI (files, fine-tuning, chat) and ARM Cognitive Services deployments.

Run it with ``python -m emulator``; see emulator/README.md for the routes, the behaviour model and every
place where it departs from Azure.
"""
