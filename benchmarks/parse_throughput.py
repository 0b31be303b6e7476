"""How fast spibot reads a day of syslog: the inner scan and the real commands, beside grep.

    python benchmarks/parse_throughput.py [--lines 1000000] [--repeat 5] [--big] [--keep DIR]
                                          [--one-core]

Builds two files and measures, in one run and on the same file:

- `grep -c RECVD_PKT_INV_SPI FILE` (the floor: one C pass over the bytes);
- the inner scan: `kb.scan.scan` over the file in its 1 MiB chunks, every event extracted;
- `spibot parse --json FILE > /dev/null`, end to end (process start included);
- `spibot diagnose --no-record FILE > /dev/null`, end to end.

The benchmark file ("mixed") is 5% invalid-SPI lines (IOS, ASA, FTD under five framings),
1% companions (IKMP_NO_SA, replay, HSRP, IKE ACL denies, session status) and ordinary
messages for the rest, a fifth of which are ACL log lines (IOS and ASA denies and permits of
TCP, DNS and NTP). The worst case ("worst") is 50% ACL log lines and 20% invalid-SPI lines.
Every time is the best and the median of --repeat runs, wall clock and (in brackets) CPU
seconds: on a shared machine the CPU time is the steadier figure. The commands are first run
once with bytecode writing on, so that the runs measured start as an installed spibot does
(pip compiles the .pyc files at install; PYTHONDONTWRITEBYTECODE in a shell would otherwise
make each run compile spibot's own modules again, about 0.1 s).
The scanner searches the next chunk on another core while it reads the lines of this one
(kb/_lines.c's Pass): --one-core runs everything on one CPU, to see what a machine with one
core, or with its other cores busy, gets.
--big also builds a 1 GB file (the mixed file repeated) and measures the peak RSS of
`parse --json` and `diagnose --no-record` on it (a minute or more).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
    "%ASA-4-106023: Deny udp src outside:198.51.100.{p}/4500 dst inside:192.0.2.9/4500 by "
    'access-group "OUTSIDE" [0x0, 0x0]',
    "%CRYPTO-5-SESSION_STATUS: Crypto tunnel is DOWN. Peer 198.51.100.{p}:500 Id: 198.51.100.{p}",
)
# ACL log lines that do not bear on IPsec: most of a busy firewall's log.
ACL = (
    "%SEC-6-IPACCESSLOGP: list OUTSIDE-IN denied tcp 198.51.100.{p}(5{q:04d}) -> "
    "192.0.2.1(22), 1 packet",
    "%SEC-6-IPACCESSLOGP: list OUTSIDE-IN denied udp 198.51.100.{p}(5{q:04d}) -> "
    "192.0.2.1(53), 1 packet",
    "%SEC-6-IPACCESSLOGP: list 101 permitted tcp 10.1.1.{p}(5{q:04d}) -> 10.2.2.2(443), 1 packet",
    "%SEC-6-IPACCESSLOGNP: list OUTSIDE-IN denied 47 198.51.100.{p} -> 192.0.2.1, 1 packet",
    "%ASA-4-106023: Deny tcp src outside:198.51.100.{p}/5{q:04d} dst inside:10.2.2.{p}/445 "
    'by access-group "OUTSIDE" [0x0, 0x0]',
    "%ASA-4-106023: Deny udp src outside:198.51.100.{p}/5{q:04d} dst inside:10.2.2.{p}/123 "
    'by access-group "OUTSIDE" [0x0, 0x0]',
    "%ASA-6-106100: access-list OUTSIDE permitted tcp outside/198.51.100.{p}(5{q:04d}) -> "
    "inside/10.2.2.{p}(443) hit-cnt 1 first hit [0x5e5b4c3d, 0x0]",
    "%ASA-6-302013: Built inbound TCP connection {q} for outside:198.51.100.{p}/5{q:04d} "
    "(198.51.100.{p}/5{q:04d}) to inside:10.2.2.{p}/443 (10.2.2.{p}/443)",
)
ORDINARY = (
    "%LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/{p}, changed state to up",
    "%SYS-5-CONFIG_I: Configured from console by admin on vty0 (10.0.0.{p})",
    "%LINK-3-UPDOWN: Interface GigabitEthernet0/{p}, changed state to down",
    "%OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.{p} on GigabitEthernet0/1 from LOADING to FULL, "
    "Loading Done",
    "%DHCPD-4-PING_CONFLICT: DHCP address conflict:  server pinged 10.9.9.{p}.",
    "%SSH-5-SSH2_USERAUTH: User 'netops' authentication for SSH2 Session from 10.0.0.{p} "
    "(tty = 0) using crypto cipher 'aes256-ctr', hmac 'hmac-sha2-256' Succeeded",
    "%BGP-5-ADJCHANGE: neighbor 10.255.0.{p} Up",
    "%SYS-6-LOGGINGHOST_STARTSTOP: Logging to host 10.0.0.{p} port 514 started - CLI initiated",
)
# (share of invalid-SPI lines, of companions, of ACL lines); the rest is ORDINARY.
MIXES = {"mixed": (0.05, 0.01, 0.94 * 0.2), "worst": (0.20, 0.01, 0.50)}


def build(path: Path, lines: int, mix: str, seed: int = 7) -> dict[str, int]:
    invalid, companion, acl = MIXES[mix]
    rng = random.Random(seed)
    counts = {"invalid": 0, "companion": 0, "acl": 0, "ordinary": 0}
    with path.open("w") as out:
        for n in range(lines):
            frame = rng.choice(FRAMES).format(m=n // 60 % 60, s=n % 60, ms=n % 1000, n=n, d=n % 4)
            roll = rng.random()
            values = {"p": rng.randrange(1, 250), "spi": rng.randrange(1 << 32), "q": n % 10000}
            if roll < invalid:
                kind, body = "invalid", rng.choice(INVALID)
            elif roll < invalid + companion:
                kind, body = "companion", rng.choice(COMPANIONS)
            elif roll < invalid + companion + acl:
                kind, body = "acl", rng.choice(ACL)
            else:
                kind, body = "ordinary", rng.choice(ORDINARY)
            counts[kind] += 1
            out.write(frame + body.format(**values) + "\n")
    return counts


def timed(run: Callable[[], tuple[float, object]], repeat: int) -> tuple[list, list, object]:
    """Wall and CPU seconds of `repeat` runs of `run` (which returns its CPU seconds and a
    result), and the last run's result."""
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        cpu, result = run()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu)
    return walls, cpus, result


def inner_scan(path: Path) -> tuple[float, tuple[ScanStats, dict[str, int]]]:
    start = time.process_time()
    stats = ScanStats()
    kinds: dict[str, int] = {}
    with path.open("rb") as f:
        for event in scan(read_chunks(f), stats):
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
    return time.process_time() - start, (stats, kinds)


def spibot() -> list[str]:
    script = Path(sys.executable).with_name("spibot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def command(
    args: list[str], workdir: Path, *, piped: bool = False
) -> tuple[float, tuple[int, int]]:
    """Run a command, standard output to /dev/null (or read from a pipe: GNU grep stops at
    its first match when it writes to /dev/null): CPU seconds, (exit code, peak RSS KiB)."""
    with open(os.devnull, "wb") as null:
        out = subprocess.PIPE if piped else null
        child = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, cwd=workdir)
        if piped:
            child.stdout.read()
            child.stdout.close()
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, (child.returncode, usage.ru_maxrss)


def warm_up(workdir: Path, db: Path) -> None:
    """The database made once, and spibot's modules compiled to bytecode, as an install has
    them (see the top of the module)."""
    tiny = workdir / "tiny.log"
    tiny.write_text(MIXED_LINE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for args in (
        ["kb", "list", "--db", str(db)],
        ["parse", "--json", str(tiny)],
        ["diagnose", "--no-record", "--db", str(db), str(tiny)],
    ):
        subprocess.run([*spibot(), *args], cwd=workdir, env=env, capture_output=True, check=False)


MIXED_LINE = "Mar  3 09:00:00: " + INVALID[0].format(spi=10, p=7) + "\n"


def rate(lines: int, seconds: float) -> str:
    return f"{lines / seconds / 1e6:5.2f} M lines/s"


def measure(path: Path, workdir: Path, repeat: int) -> None:
    size = path.stat().st_size
    db = workdir / "kb.db"
    parse = [*spibot(), "parse", "--json", str(path)]
    diagnose = [*spibot(), "diagnose", "--no-record", "--db", str(db), str(path)]
    warm_up(workdir, db)
    grep = ["grep", "-c", "RECVD_PKT_INV_SPI", str(path)]

    g_walls, g_cpus, _ = timed(lambda: command(grep, workdir, piped=True), repeat)
    s_walls, s_cpus, (stats, kinds) = timed(lambda: inner_scan(path), repeat)
    p_walls, p_cpus, (p_code, _) = timed(lambda: command(parse, workdir), repeat)
    d_walls, d_cpus, (d_code, _) = timed(lambda: command(diagnose, workdir), repeat)
    lines = stats.lines
    grep_best = min(g_walls)

    print(f"  {lines:,} lines, {size / 1e6:.1f} MB; {stats.events:,} events {kinds}")
    print(
        f"  {'wall seconds (CPU seconds)':<44} {'best':>14} {'median':>14}"
        f"  {'best, as a rate':>16}  {'x grep':>6}"
    )
    rows = (
        ("grep -c RECVD_PKT_INV_SPI", g_walls, g_cpus),
        ("inner scan (kb.scan, every event extracted)", s_walls, s_cpus),
        (f"spibot parse --json > /dev/null (exit {p_code})", p_walls, p_cpus),
        (f"spibot diagnose --no-record (exit {d_code})", d_walls, d_cpus),
    )
    for name, walls, cpus in rows:
        best, median = min(walls), statistics.median(walls)
        shown = f"{best:6.3f} ({min(cpus):5.3f})", f"{median:6.3f} ({statistics.median(cpus):5.3f})"
        print(
            f"  {name:<44} {shown[0]:>14} {shown[1]:>14}  {rate(lines, best):>16}"
            f"  {best / grep_best:5.1f}x"
        )


def measure_big(source: Path, workdir: Path) -> None:
    big = workdir / "big.log"
    # Copied in pieces: a child's peak RSS counts what this process holds when it forks.
    with big.open("wb") as out:
        while out.tell() < 1_000_000_000:
            with source.open("rb") as piece:
                shutil.copyfileobj(piece, out, 1 << 20)
    size = big.stat().st_size
    db = workdir / "kb.db"
    print(f"\nbig: {size / 1e9:.2f} GB (the mixed file repeated)")
    for name, args in (
        ("spibot parse --json", ["parse", "--json", str(big)]),
        ("spibot diagnose --no-record", ["diagnose", "--no-record", "--db", str(db), str(big)]),
    ):
        start = time.perf_counter()
        cpu, (code, peak_kib) = command([*spibot(), *args], workdir)
        took = time.perf_counter() - start
        print(
            f"  {name:<30} exit {code}, {took:6.1f} s ({cpu:.1f} s CPU), "
            f"peak RSS {peak_kib / 1024:.1f} MiB"
        )
    big.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measure")
    parser.add_argument("--big", action="store_true", help="also the peak RSS on a 1 GB file")
    parser.add_argument("--keep", type=Path, help="write the generated files here and keep them")
    parser.add_argument("--one-core", action="store_true", help="run everything on one CPU")
    args = parser.parse_args()
    if args.one_core:  # the commands run are children: they inherit it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    workdir = Path(tempfile.mkdtemp(prefix="spibot-bench-"))
    files = args.keep or workdir
    files.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} of {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start")
    try:
        for mix in MIXES:
            path = files / f"{mix}.log"
            counts = build(path, args.lines, mix)
            print(f"\n{mix}: generated {counts}")
            measure(path, workdir, args.repeat)
        if args.big:
            measure_big(files / "mixed.log", workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
