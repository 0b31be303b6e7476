#!/usr/bin/env python3
"""Self-check for tests/cases/labels.json (not a test; standard library only).

Checks that labels.json follows the DESIGN.md schema, that every labelled file or folder
exists (and every paste file is labelled), that the coverage minimums of issue 10 are met,
and prints the counts per cause and per platform.

    python3 tests/cases/check_labels.py [DIR]

Exit status 0 when everything holds, 1 otherwise.
"""

import ipaddress
import json
import re
import sys
from collections import Counter
from pathlib import Path

CAUSES = [
    "rekey-race",
    "sa-out-of-sync",
    "lifetime-mismatch",
    "ha-failover",
    "nat-traversal",
    "firewall-blocking",
    "packet-loss",
    "policy-mismatch",
    "unsolicited-esp",
    "software-defect",
]
PLATFORMS = ["ios", "asa", "ftd", "pix", "fortigate", "panos", "screenos"]
KEYS_REQUIRED = {"top1", "peer", "spi", "platform", "source"}
KEYS_ALLOWED = KEYS_REQUIRED | {"peers", "note"}
SPI_RE = re.compile(r"^0x[0-9A-F]{8}$")

MIN_CASES = 50
MIN_PER_CAUSE = 3
MIN_SINGLE_LINE = 10
MIN_MULTI_PEER = 10


def canonical_ip(value):
    """The address in canonical form, or None when it is not an IP address."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def paste_lines(path):
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    lines = []
    for f in files:
        lines += [ln for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return lines


def check(root):
    errors = []
    labels_path = root / "labels.json"
    try:
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"labels.json: cannot read: {exc}"], {}, {}
    if not isinstance(labels, dict) or not labels:
        return ["labels.json: must be a non-empty object"], {}, {}

    for name, lab in labels.items():
        where = f"{name}:"
        if not isinstance(lab, dict):
            errors.append(f"{where} label must be an object")
            continue
        missing = KEYS_REQUIRED - lab.keys()
        extra = lab.keys() - KEYS_ALLOWED
        if missing:
            errors.append(f"{where} missing keys {sorted(missing)}")
        if extra:
            errors.append(f"{where} unknown keys {sorted(extra)}")
        path = root / name
        if not path.exists():
            errors.append(f"{where} file or folder does not exist")
        elif path.is_file() and path.suffix != ".txt":
            errors.append(f"{where} paste files must be *.txt")
        top1 = lab.get("top1")
        if not isinstance(top1, list) or not top1 or any(c not in CAUSES for c in top1):
            errors.append(f"{where} top1 must be a non-empty list of cause ids, got {top1!r}")
        elif len(set(top1)) != len(top1):
            errors.append(f"{where} top1 has duplicates")
        if lab.get("platform") not in PLATFORMS:
            errors.append(f"{where} platform {lab.get('platform')!r} not one of {PLATFORMS}")
        if not isinstance(lab.get("source"), str) or len(lab.get("source", "")) < 10:
            errors.append(f"{where} source must name a URL or a precise document")
        if "note" in lab and not isinstance(lab["note"], str):
            errors.append(f"{where} note must be a string")
        peer, spi = lab.get("peer"), lab.get("spi")
        if peer is not None and (not isinstance(peer, str) or canonical_ip(peer) != peer):
            errors.append(f"{where} peer {peer!r} is not a canonical IP address")
        if spi is not None and (not isinstance(spi, str) or not SPI_RE.match(spi)):
            errors.append(f"{where} spi {spi!r} is not 0x%08X")
        text = "\n".join(paste_lines(path)) if path.exists() else ""
        if peer is not None and text and peer not in text:
            errors.append(f"{where} peer {peer} does not appear in the paste")
        if spi is not None and text and spi[2:].lower() not in text.lower():
            errors.append(f"{where} spi {spi} does not appear in the paste")
        peers = lab.get("peers")
        if peers is not None:
            if not isinstance(peers, dict) or len(peers) < 2:
                errors.append(f"{where} peers must map at least two peer addresses to causes")
            else:
                for p, causes in peers.items():
                    if canonical_ip(p) != p:
                        errors.append(f"{where} peers key {p!r} is not a canonical IP address")
                    if (
                        not isinstance(causes, list)
                        or not causes
                        or any(c not in CAUSES for c in causes)
                    ):
                        errors.append(f"{where} peers[{p}] must be a non-empty list of cause ids")
                    if text and p not in text:
                        errors.append(f"{where} peers[{p}] does not appear in the paste")
                if peer is not None and peer not in peers:
                    errors.append(f"{where} busiest peer {peer} missing from peers")
                elif peer is not None and sorted(peers[peer]) != sorted(top1 or []):
                    errors.append(f"{where} top1 must equal the busiest peer's causes")

    labelled = {n.rstrip("/") for n in labels}
    for p in sorted(root.iterdir()):
        if p.name == "labels.json" or p.name.startswith(".") or p.name == "__pycache__":
            continue
        if p.is_file() and p.suffix != ".txt":
            continue  # README.md, this script
        if p.name not in labelled:
            errors.append(f"{p.name}: present but not labelled")

    per_cause = Counter()
    per_cause_top1 = Counter()
    per_platform = Counter()
    kinds = Counter()
    for name, lab in labels.items():
        if not isinstance(lab, dict):
            continue
        causes = set(lab.get("top1") or [])
        per_cause_top1.update(causes)
        for cs in (lab.get("peers") or {}).values():
            causes.update(cs or [])
        per_cause.update(causes)
        per_platform[lab.get("platform")] += 1
        path = root / name
        if lab.get("peers"):
            kinds["multi-peer"] += 1
        if path.is_file() and len(paste_lines(path)) == 1:
            kinds["single-line"] += 1
        if lab.get("peer") is None:
            kinds["peer unknown"] += 1

    if len(labels) < MIN_CASES:
        errors.append(f"only {len(labels)} cases, need at least {MIN_CASES}")
    for c in CAUSES:
        if per_cause[c] < MIN_PER_CAUSE:
            errors.append(f"cause {c}: {per_cause[c]} cases, need at least {MIN_PER_CAUSE}")
    for p in PLATFORMS:
        if per_platform[p] < 1:
            errors.append(f"platform {p}: no case")
    if kinds["single-line"] < MIN_SINGLE_LINE:
        errors.append(f"{kinds['single-line']} single-line pastes, need at least {MIN_SINGLE_LINE}")
    if kinds["multi-peer"] < MIN_MULTI_PEER:
        errors.append(f"{kinds['multi-peer']} multi-peer pastes, need at least {MIN_MULTI_PEER}")

    stats = {
        "cases": len(labels),
        "per_cause": per_cause,
        "per_cause_top1": per_cause_top1,
        "per_platform": per_platform,
        "kinds": kinds,
    }
    return errors, labels, stats


def main(argv):
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    errors, _labels, stats = check(root)
    if stats:
        print(f"cases: {stats['cases']}")
        print("\ncause               any  top1")
        for c in CAUSES:
            print(f"  {c:18} {stats['per_cause'][c]:3}  {stats['per_cause_top1'][c]:4}")
        print("\nplatform   cases")
        for p in PLATFORMS:
            print(f"  {p:9} {stats['per_platform'][p]:4}")
        print(
            "\nsingle-line: {single-line}  multi-peer: {multi-peer}  peer unknown: {peer unknown}".format(
                **{k: stats["kinds"][k] for k in ("single-line", "multi-peer", "peer unknown")}
            )
        )
    if errors:
        print("\nPROBLEMS:")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
