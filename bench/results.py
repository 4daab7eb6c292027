"""Where every benchmark writes what it measured: JSON under results/ (git-ignored)."""
import json
from pathlib import Path


def write_results(out: str | Path, results) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")  # NumPy scalars as numbers
    print(f"written {out}")
