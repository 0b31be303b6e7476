"""Throughput of the full recognise+extract pass over a large mixed syslog file.

    python benchmarks/parse_throughput.py [--lines 1000000] [--keep FILE]

Builds a file of about 5% invalid-SPI lines (IOS, ASA, FTD, under several framings), 2%
companion messages (IKMP_NO_SA, replay, HSRP, ACL denies, session status) and ordinary IOS
messages for the rest; times `kb.scan` over it (streamed in chunks, every tag recognised)
and `grep -c RECVD_PKT_INV_SPI` over the same file, and prints the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb.scan import ScanStats, read_chunks, scan

FRAMES = (
    "Mar  3 09:{m:02d}:{s:02d}.{ms:03d}: ",
    "*Mar  3 09:{m:02d}:{s:02d}.{ms:03d} UTC: ",
    "<189>{n}: Mar  3 09:{m:02d}:{s:02d}: ",
    "2024-03-03T09:{m:02d}:{s:02d}+00:00 rtr-edge-{d} ",
    "",
)
INVALID = (
    "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.1, prot=50, spi=0x{spi:08X}({spi}), srcaddr=198.51.100.{p}, "
    "input interface=GigabitEthernet0/0/0",
    "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.1, prot=50, spi=0x{spi:08X}({spi}), srcaddr=198.51.100.{p}",
    "%ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0x{spi:08X}, sequence number= 0x1A) "
    "from 203.0.113.{p} to 192.0.2.9 with an invalid SPI.",
    "%FTD-4-402114: IPSEC: Received an ESP packet (SPI= 0x{spi:08X}, sequence number= 0x2) "
    "from 203.0.113.{p} to 192.0.2.9 with an invalid SPI.",
)
COMPANIONS = (
    "%CRYPTO-4-IKMP_NO_SA: IKE message from 198.51.100.{p} has no SA and is not an "
    "initialization offer",
    "%CRYPTO-4-PKT_REPLAY_ERR: decrypt: replay check failed connection id={p}",
    "%HSRP-5-STATECHANGE: GigabitEthernet0/0 Grp 10 state Standby -> Active",
    "%SEC-6-IPACCESSLOGP: list OUTSIDE-IN denied udp 198.51.100.{p}(500) -> 192.0.2.1(500), "
    "1 packet",
    "%CRYPTO-5-SESSION_STATUS: Crypto tunnel is DOWN. Peer 198.51.100.{p}:500 Id: 198.51.100.{p}",
)
ORDINARY = (
    "%LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/{p}, changed state to up",
    "%SYS-5-CONFIG_I: Configured from console by admin on vty0 (10.0.0.{p})",
    "%LINK-3-UPDOWN: Interface GigabitEthernet0/{p}, changed state to down",
    "%SEC-6-IPACCESSLOGP: list 101 permitted tcp 10.1.1.{p}(51234) -> 10.2.2.2(443), 1 packet",
    "%OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.{p} on GigabitEthernet0/1 from LOADING to FULL, "
    "Loading Done",
    "%DHCPD-4-PING_CONFLICT: DHCP address conflict:  server pinged 10.9.9.{p}.",
    "%SSH-5-SSH2_USERAUTH: User 'netops' authentication for SSH2 Session from 10.0.0.{p} "
    "(tty = 0) using crypto cipher 'aes256-ctr', hmac 'hmac-sha2-256' Succeeded",
    "%BGP-5-ADJCHANGE: neighbor 10.255.0.{p} Up",
    "%SYS-6-LOGGINGHOST_STARTSTOP: Logging to host 10.0.0.{p} port 514 started - CLI initiated",
)


def build(path: Path, lines: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    counts = {"invalid": 0, "companion": 0, "ordinary": 0}
    with path.open("w") as out:
        for n in range(lines):
            frame = rng.choice(FRAMES).format(m=n // 60 % 60, s=n % 60, ms=n % 1000, n=n, d=n % 4)
            roll = rng.random()
            values = {"p": rng.randrange(1, 250), "spi": rng.randrange(1 << 32)}
            if roll < 0.05:
                kind, body = "invalid", rng.choice(INVALID)
            elif roll < 0.07:
                kind, body = "companion", rng.choice(COMPANIONS)
            else:
                kind, body = "ordinary", rng.choice(ORDINARY)
            counts[kind] += 1
            out.write(frame + body.format(**values) + "\n")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best is shown")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="spibot-bench-"))
    path = args.keep or workdir / "mixed.log"
    counts = build(path, args.lines)
    size = path.stat().st_size
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    best = float("inf")
    for _ in range(args.repeat):
        stats = ScanStats()
        start = time.perf_counter()
        with path.open("rb") as f:
            kinds: dict[str, int] = {}
            for event in scan(read_chunks(f), stats):
                kinds[event.kind] = kinds.get(event.kind, 0) + 1
        best = min(best, time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    grep_best = float("inf")
    grep_count = "n/a"
    if shutil.which("grep"):
        for _ in range(args.repeat):
            start = time.perf_counter()
            out = subprocess.run(
                ["grep", "-c", "RECVD_PKT_INV_SPI", str(path)], capture_output=True, text=True
            )
            grep_best = min(grep_best, time.perf_counter() - start)
            grep_count = out.stdout.strip()

    print(f"file: {stats.lines:,} lines, {size / 1e6:.1f} MB; generated {counts}")
    print(f"events: {stats.events:,} {dict(sorted(kinds.items()))}")
    print(f"candidates examined: {stats.candidates:,}")
    print(f"full pass (best of {args.repeat}): {best:.3f} s")
    print(f"  {stats.lines / best:,.0f} lines/s, {size / best / 1e6:,.1f} MB/s")
    print(f"peak RSS: {peak_kib / 1024:.1f} MiB (before scanning: {rss_before / 1024:.1f} MiB)")
    if grep_best != float("inf"):
        print(
            f"grep -c RECVD_PKT_INV_SPI: {grep_best:.3f} s ({grep_count} lines); "
            f"spibot/grep time ratio {best / grep_best:.1f}x"
        )
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"cpu: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
