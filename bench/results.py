"""Where every benchmark writes what it measured: JSON under results/ (git-ignored)."""
import argparse
import json
from pathlib import Path

from scripts.pypi_assets import ROOT


def write_results(out: str | Path, results) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")  # NumPy scalars as numbers
    print(f"written {out}")


def bench_parser(description: str, name: str, repeat: int | None = None) -> argparse.ArgumentParser:
    """The command line every benchmark shares: its docstring as help, `--out` defaulting to
    results/<name>.json and, where it repeats measurements, `--repeat`; each adds its own options."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "results" / f"{name}.json"))
    if repeat is not None:
        parser.add_argument("--repeat", type=int, default=repeat, help=f"measurements of each (default {repeat})")
    return parser
