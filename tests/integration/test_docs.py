"""The documentation: the MkDocs site in docs/ builds with --strict (a broken link or anchor, or a
page left out of the nav, fails), every setting is documented, and the README stays a short
front page that starts with the two commands (CI's hook reads the test command from it)."""
import os
import re
import subprocess
import sys
from pathlib import Path

from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_site_builds_strictly_without_a_warning(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "WARNING" not in output, output[-4000:]
    assert (tmp_path / "site" / "index.html").exists()


def test_every_page_is_in_the_nav():
    """mkdocs only reports pages outside the nav at INFO level unless told (validation.omitted_files);
    this holds even if that setting is dropped."""
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f": {page.name}" in nav, f"docs/{page.name} is not in mkdocs.yml's nav"


def test_every_setting_is_documented():
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in text]
    assert missing == [], f"settings missing from docs/configuration.md: {missing}"


def test_every_error_code_is_documented():
    """Each code the app can answer with (app/errors.py, and the Redis and internal ones the error
    handlers add) is in the error table of docs/api.md."""
    source = (ROOT / "app" / "errors.py").read_text() + (ROOT / "app" / "api" / "error_handlers.py").read_text()
    codes = set(re.findall(r'code\s*=\s*"([a-z_]+)"', source)) | set(re.findall(r'\d{3}, "([a-z_]+)"', source))
    assert {"internal_error", "redis_full", "person_not_found"} <= codes
    text = (ROOT / "docs" / "api.md").read_text()
    assert sorted(c for c in codes if f"`{c}`" not in text) == []


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines"
    commands = [line.split("#")[0].strip() for line in lines[:6] if line.startswith("    bash ")]
    assert commands == ["bash scripts/run.sh", "bash scripts/test.sh"]


def test_readme_points_only_inside_the_repository():
    text = (ROOT / "README.md").read_text()
    assert "../" not in text, "README.md links outside the repository"
    for target in [part.split(")")[0].split("#")[0] for part in text.split("](")[1:]]:
        if target and not target.startswith("http"):
            assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"
