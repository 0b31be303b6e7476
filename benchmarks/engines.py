"""The libraries the scanner could use, side by side on the benchmark file: what chose them.

    python benchmarks/engines.py [FILE]      (default: a fresh copy of parse_throughput's file)

Marker search: every marker of kb/formats.py (the tags, SPI/ESP, 23 literals) over the whole
file, with Python's re as one alternation, with re as the scanner used it before issue 14 (a
tag pass, then a substring pass per literal), with google-re2 as one alternation, and with
Hyperscan (kb/markers.py's database, which also applies the narrower rules), and with
kb/_lines.c (the same narrower rules in one C pass; alone, and also reading the commonest lines
whole and numbering every line, as the scanner uses it). JSON: the events
of the file written as `parse --json` writes them, with json, orjson and msgspec. Libraries
not installed are skipped (google-re2 and orjson are not dependencies). CPU seconds, best of
--repeat.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from parse_throughput import build

from kb import markers
from kb.formats import MARKER_LITERALS, MARKER_TAGS, MARKER_WORDS
from kb.scan import scan


def best(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.process_time()
        result = run()
        times.append(time.process_time() - start)
    return min(times), result


def marker_engines(data: bytes, repeat: int) -> None:
    every = [MARKER_TAGS.replace(b"*+", b"*").replace(b"++", b"+")]
    every += [re.escape(w) for w in (*MARKER_WORDS, *MARKER_LITERALS)]
    alternation = b"|".join(b"(?:%s)" % p for p in every)

    def lines_of(positions) -> int:
        return len({data.rfind(b"\n", 0, at) + 1 for at in positions})

    one = re.compile(alternation)
    tags = re.compile(MARKER_TAGS)

    def passes() -> int:
        hits = [m.start() for m in tags.finditer(data)]
        for word in (*MARKER_WORDS, *MARKER_LITERALS):
            at = data.find(word)
            while at != -1:
                hits.append(at)
                at = data.find(word, at + 1)
        return lines_of(hits)

    rows = [
        ("re, one alternation", lambda: lines_of(m.start() for m in one.finditer(data)), 1),
        ("re, a pass per marker (before)", passes, repeat),
    ]
    try:
        import re2

        compiled = re2.compile(alternation)
        rows.append(
            (
                "google-re2, one alternation",
                lambda: lines_of(m.start() for m in compiled.finditer(data)),
                repeat,
            )
        )
    except ImportError:
        print("  google-re2: not installed (pip install google-re2)")
    if "hyperscan" in markers.available():
        import hyperscan

        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(expressions=every, ids=list(range(len(every))), elements=len(every))

        def hyperscan_every() -> int:
            ends: list[int] = []
            database.scan(data, match_event_handler=lambda _i, _f, to, _fl, _c: ends.append(to))
            return lines_of(at - 1 for at in ends)

        rows.append(("Hyperscan, the same markers", hyperscan_every, repeat))
        find = markers.finder("hyperscan")
        find(b"warm\n", 5)  # the database loaded or compiled
        rows.append(
            (
                "Hyperscan, narrower rules (kb/markers.py)",
                lambda: len(find(data, len(data))),
                repeat,
            )
        )
    if "c" in markers.available():
        find_c, read_c = markers.finder("c"), markers.liner("c")
        rows.append(("kb/_lines.c, narrower rules", lambda: len(find_c(data, len(data))), repeat))
        rows.append(
            (
                "kb/_lines.c, + numbered, fast lines read whole",
                lambda: len(read_c(data, 0, len(data), 1)[0]),
                repeat,
            )
        )
    find_re = markers.finder("re")
    rows.append(("re, narrower rules (fallback)", lambda: len(find_re(data, len(data))), 1))
    print(f"  {'marker search':<44} {'CPU s':>7}  lines to read")
    for name, run, times in rows:
        took, lines = best(run, times)
        print(f"  {name:<44} {took:7.3f}  {lines:,}")


def encoders(data: bytes, repeat: int) -> None:
    events = list(scan([data]))
    rows: list[tuple[str, Callable[[], object]]] = [
        (
            "json.dumps(event.to_dict()) (before)",
            lambda: ",\n  ".join(json.dumps(e.to_dict()) for e in events),
        ),
    ]
    try:
        import orjson

        rows.append(
            (
                "orjson.dumps(event.to_dict())",
                lambda: b",\n  ".join(orjson.dumps(e.to_dict()) for e in events),
            )
        )
        rows.append(
            (
                "orjson.dumps(event) (wrong key order)",
                lambda: b",\n  ".join(map(orjson.dumps, events)),
            )
        )
    except ImportError:
        print("  orjson: not installed (pip install orjson)")
    import msgspec

    encode = msgspec.json.Encoder().encode
    rows.append(("msgspec encode(event) (chosen)", lambda: b",\n  ".join(map(encode, events))))
    print(f"\n  {'JSON, ' + format(len(events), ',') + ' events':<44} {'CPU s':>7}  µs an event")
    for name, run in rows:
        took, _ = best(run, repeat)
        print(f"  {name:<44} {took:7.3f}  {took / len(events) * 1e6:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path = args.file
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="spibot-engines-")) / "mixed.log"
        build(path, 1_000_000, "mixed")
    data = path.read_bytes()
    lines = data.count(b"\n")
    print(f"{path}: {lines:,} lines, {len(data) / 1e6:.1f} MB")
    marker_engines(data, args.repeat)
    encoders(data, args.repeat)
    if args.file is None:
        path.unlink()
        path.parent.rmdir()


if __name__ == "__main__":
    main()
