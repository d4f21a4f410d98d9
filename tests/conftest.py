"""Fixtures shared by the whole suite live in tests/fixtures/ as plugins, loaded here."""

from pathlib import Path

# TEMPORARY while the emulator fixture is being written: load it once it exists.
pytest_plugins = ["tests.fixtures.azurite"] + (
    ["tests.fixtures.emulator"] if (Path(__file__).parent / "fixtures" / "emulator.py").exists() else []
)
