"""The shape of the code, checked so that it stays: import arrows point one way (HTTP
surfaces -> use cases -> services -> visitors, corrections -> pipeline and gallery -> model
clients; config imports nothing from app), loading the settings loads no web or image library,
tests stand on their own, views are thin, and the lint is clean."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_lint_is_clean():
    """ruff with the project's rules (pyproject.toml): unused or missing names, long lines, import order."""
    done = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "--no-cache", "."], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_loading_the_settings_loads_no_app_web_or_image_library():
    code = ("import sys, config; config.load_settings(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'app', 'flask', 'cv2', 'PIL', 'tensorflow', "
            "'prometheus_client', 'redis', 'grpc'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_tests_import_nothing_from_the_benchmarks():
    for path in sorted((ROOT / "tests").rglob("*.py")):
        assert not {m for m in imported_modules(path) if m == "bench" or m.startswith("bench.")}, path.name


def test_views_are_thin():
    too_long = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            routes = [d for d in getattr(node, "decorator_list", []) if isinstance(d, ast.Call)
                      and isinstance(d.func, ast.Attribute) and d.func.attr in {"route", "get", "post", "put",
                                                                                 "patch", "delete"}]
            if isinstance(node, ast.FunctionDef) and routes and node.end_lineno - node.lineno + 1 > 20:
                too_long.append(f"{path.relative_to(ROOT)}: route {node.name} has {node.end_lineno - node.lineno + 1}")
    assert too_long == []


def test_types_check():
    """mypy on app/ and config/ (pyproject.toml [tool.mypy]: its `files`, so a bare `mypy` checks the
    same; app.pipeline strictly)."""
    done = subprocess.run([str(Path(sys.executable).parent / "mypy")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout
