"""Fixtures shared by the whole suite live in tests/fixtures/ as plugins, loaded here."""

pytest_plugins = ["tests.fixtures.azurite", "tests.fixtures.emulator", "tests.fixtures.app"]
