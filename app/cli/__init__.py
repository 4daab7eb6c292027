"""The operators' command line: `python -m app.cli --help` (the commands: app/cli/help.py).
Every command talks to a running server over HTTP, local or remote."""
from app.cli import camera, face_library, folders, frigate, gallery  # noqa: F401  (each registers its commands on `cli`)
from app.cli.base import Server, cli, person_of

__all__ = ["Server", "cli", "person_of"]
