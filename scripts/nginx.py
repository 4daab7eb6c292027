"""nginx in front of Gunicorn, as a plain process (scripts/run.sh and the tests):

    python -m scripts.nginx --run-dir run --listen 5000 --upstream 127.0.0.1:5001

renders config/nginx/*.template into the run folder and starts nginx in the foreground. The
containers use the same server block through Dockerfile.nginx."""
import argparse
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from string import Template

from scripts.processes import http_answers, start_process

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "config" / "nginx"


def render(run_dir: Path, listen: int, upstream: str, max_body: int) -> Path:
    """Write facerec.conf and nginx.conf into run_dir; the path of nginx.conf."""
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    # Bodies are buffered in temp files by nginx's workers, which run as another user ("nobody")
    # when the master runs as root: their folder must be reachable by them, wherever run_dir is.
    tmp = Path(tempfile.mkdtemp(prefix="facerec-nginx-"))
    tmp.chmod(0o1777)
    values = {"FACEREC_RUN": str(run_dir), "FACEREC_TMP": str(tmp), "FACEREC_LISTEN": str(listen),
              "FACEREC_UPSTREAM": upstream, "FACEREC_MAX_BODY": str(max_body)}
    for name, target in (("facerec.conf.template", "facerec.conf"), ("local.conf.template", "nginx.conf")):
        # safe_substitute: nginx's own $variables ($host, ...) stay as they are
        (run_dir / target).write_text(Template((TEMPLATES / name).read_text()).safe_substitute(values))
    return run_dir / "nginx.conf"


def nginx_command(conf: Path) -> list[str]:
    """nginx in the foreground with `conf` (Debian's binary when it is not on PATH)."""
    return [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf), "-g", "daemon off;"]


def start_nginx(run_dir: Path, listen: int, upstream: str, max_body: int, timeout_s: float = 20,
                answers: Callable[[], bool] | None = None) -> subprocess.Popen:
    """nginx on 127.0.0.1:listen (and every address) in front of `upstream`, returned once
    `answers()` (default: a request through it to /healthz answers; the upstream must be up)."""
    conf = render(run_dir, listen, upstream, max_body)
    return start_process(nginx_command(conf), answers or (lambda: http_answers(f"http://127.0.0.1:{listen}/healthz")),
                         timeout_s, f"nginx on port {listen}", stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=str(ROOT / "run"))
    parser.add_argument("--listen", type=int, default=5000)
    parser.add_argument("--upstream", default="127.0.0.1:5001")
    parser.add_argument("--max-body", type=int, default=int(os.environ.get("MAX_CONTENT_LENGTH", 20 * 1024 * 1024)))
    args = parser.parse_args(argv)
    conf = render(Path(args.run_dir), args.listen, args.upstream, args.max_body)
    command = nginx_command(conf)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
