"""How the cost of reading a line grows with its length, for every adversarial shape.

    python benchmarks/regex_scaling.py [--family TEXT] [--largest 131072] [--rows]

Times each shape of tests/adversarial.py (long runs of what each pattern touches) through
each of its entry points at 1k, 2k, 4k ... 128k characters, and prints the time per
doubling of the input: about 2 is linear, 4 quadratic, 8 cubic. `parse` and `diagnose` cut
a line at 4,096 characters, so for a single line their time stops growing there (about 1).
The ratio is the geometric mean over the last three doublings; the smaller sizes are
shown for scale only (fixed costs dominate them).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.adversarial import ENTRIES, SHAPES

SMALLEST = 1024
MIN_SECONDS = 0.02  # repeat a call until this much time was measured, keep the best run


def best_time(call: Callable[[], object]) -> float:
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 3 or (spent < MIN_SECONDS and runs < 200):
        start = time.perf_counter()
        call()
        took = time.perf_counter() - start
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best


def sizes(largest: int) -> list[int]:
    out = [SMALLEST]
    while out[-1] * 2 <= largest:
        out.append(out[-1] * 2)
    return out


def per_doubling(times: list[float]) -> float:
    """Geometric mean of the time ratio over the last three doublings."""
    span = min(3, len(times) - 1)
    return (times[-1] / times[-1 - span]) ** (1 / span)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}" if seconds < 0.01 else f"{seconds * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", help="only families whose name contains this")
    parser.add_argument("--largest", type=int, default=128 * 1024)
    parser.add_argument("--rows", action="store_true", help="print every shape, not only families")
    args = parser.parse_args()

    ENTRIES["diagnose"]("")  # load the bundled articles before timing anything
    steps = sizes(args.largest)
    worst: dict[str, tuple[float, float, str]] = {}
    counts: dict[str, int] = {}
    if args.rows:
        print(
            f"{'family: shape':58} {'entry':10} {'1k ms':>9} {'largest ms':>11} {'x/doubling':>10}"
        )
    for shape in SHAPES:
        if args.family and args.family.lower() not in shape.family.lower():
            continue
        counts[shape.family] = counts.get(shape.family, 0) + 1
        for entry in shape.entries:
            call = ENTRIES[entry]
            times = []
            for n in steps:
                text = shape.build(n)
                times.append(best_time(lambda c=call, t=text: c(t)))
            ratio = per_doubling(times)
            if args.rows:
                print(
                    f"{shape.id[:58]:58} {entry:10} {ms(times[0]):>9} {ms(times[-1]):>11} "
                    f"{ratio:>10.2f}"
                )
            if ratio > worst.get(shape.family, (0.0, 0.0, ""))[0]:
                worst[shape.family] = (ratio, times[-1], f"{shape.name} ({entry})")
    print()
    print(f"Largest input {steps[-1]:,} characters; x/doubling: ~2 linear, ~4 quadratic.")
    print(f"{'family':18} {'shapes':>6} {'worst x/doubling':>16} {'its ms':>8}  worst shape")
    for family, (ratio, seconds, name) in worst.items():
        print(f"{family:18} {counts[family]:>6} {ratio:>16.2f} {ms(seconds):>8}  {name}")


if __name__ == "__main__":
    main()
