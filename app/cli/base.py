"""What every command shares: the server it talks to over HTTP (--url, --api-key), and the
`cli` group the commands are registered on."""
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import requests

from app.cli.help import HELP, CommandList


class Server:
    def __init__(self, url, api_key, timeout_s=60):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["X-API-Key"] = api_key
        self.timeout_s = timeout_s

    def call(self, method, path, into: Path | None = None, **kwargs):
        """(status, JSON body); the server's error message is in body["error"]["message"].
        `into`: a successful answer is streamed into this file instead (body None)."""
        try:
            response = self.session.request(method, self.url + path, timeout=self.timeout_s,
                                            stream=into is not None, **kwargs)
            if into is not None and response.status_code == 200:
                with into.open("wb") as f:
                    for piece in response.iter_content(1 << 20):
                        f.write(piece)
                return 200, None
        except requests.RequestException as e:
            raise click.ClickException(f"cannot reach {self.url}: {e}") from None
        try:
            body = response.json()
        except ValueError:
            body = {"error": {"code": "not_json", "message": response.text[:200]}}
        if response.status_code == 401:
            raise click.ClickException(f"{self.url} wants a valid API key: {body['error']['message']} (--api-key)")
        return response.status_code, body


@contextmanager
def replacing(file: Path) -> Iterator[Path]:
    """A new file beside `file` to write; it replaces `file` only when the block ends without an
    error (an export cut short never costs the last good one). Refused before any work when
    `file`'s folder cannot be written."""
    try:
        handle, name = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".part")
    except OSError as e:
        raise click.ClickException(f"cannot write {file}: {e.strerror}") from None
    os.close(handle)
    part = Path(name)
    try:
        yield part
        # mkstemp's file is 0600: the mode FILE had, or what the umask gives a new file
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(part, file.stat().st_mode & 0o777 if file.exists() else 0o666 & ~mask)
        os.replace(part, file)
    finally:
        part.unlink(missing_ok=True)


def error_text(body):
    return body.get("error", {}).get("message", str(body))


def files_in(folder):
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith("."))


def person_of(path, root):
    """A subfolder names the person; a file directly in DIR is named by its stem (ada_02 -> ada)."""
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return relative.parts[0]
    return re.sub(r"[_\-\s]*\d+$", "", path.stem) or path.stem


@click.group(cls=CommandList, help=HELP)
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, envvar="FACEREC_URL")
@click.option("--api-key", default=None, envvar="FACEREC_API_KEY", help="sent as X-API-Key")
@click.pass_context
def cli(ctx, url, api_key):
    ctx.obj = Server(url, api_key)
