"""Entry point for ``python -m emulator``."""

from emulator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
