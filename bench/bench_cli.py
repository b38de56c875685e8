"""Benchmark the CLI's start: how long `wmh --help`, `wmh list` and a mistyped command take,
beside the floor of starting Python and importing typer and rich (measured in the same run).

    python bench/bench_cli.py --runs 5 --out bench/results/cli.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WMH = [sys.executable, "-m", "wmh"]
CASES = {
    "floor: python -c 'import typer, rich.console'": [
        sys.executable, "-c", "import typer, rich.console"
    ],
    "wmh --help": [*WMH, "--help"],
    "wmh list (the example store)": [*WMH, "list", "--root", str(ROOT / "examples" / "airline")],
    "wmh bogus (an error)": [*WMH, "bogus"],
    "wmh eval --help": [*WMH, "eval", "--help"],
    "wmh providers --help": [*WMH, "providers", "--help"],
}  # fmt: skip


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, cwd=ROOT, timeout=120)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = {name: median_seconds(argv, args.runs) for name, argv in CASES.items()}
    floor = next(iter(results.values()))
    for name, seconds in results.items():
        print(f"{name:48s} {seconds:6.3f} s  {seconds / floor:5.1f}x the floor")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"runs": args.runs, "median_s": results}, indent=2))


if __name__ == "__main__":
    main()
