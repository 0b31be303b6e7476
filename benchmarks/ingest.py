"""Feed mode's ingest on one worker: lines/s over UDP and TCP, drops, commit latency, memory.

    python benchmarks/ingest.py [--phases udp,tcp,hold] [--rates 25000,50000,75000,100000]
                                [--step-seconds 10] [--minutes 1] [--hold-rate 50000]
                                [--tcp-framing octet|lf] [--asa-share 0.25] [--profile 20]
                                [--stage-seconds 5]

One process runs one Feed (bot/feed/runner.py: the UDP and TCP listeners, the ingest queue and
its writer thread, the alert loop printing JSON lines to /dev/null) on a fresh database; the
sender is another process, so the two never share a GIL; this process only steers and samples.

The traffic is what two dozen devices send: 18 IOS routers (4 hubs) and 6 ASAs, about 370
tunnel ends, framed as IOS and ASA send syslog themselves (RFC 3164 with origin-id/device-id)
or as rsyslog relays them (its forward format and RFC 5424). Of the lines, 5 % are invalid-SPI
lines (IOS %CRYPTO-4-RECVD_PKT_INV_SPI, ASA %ASA-4-402114), 1 % companions (IKE no SA, tunnel
down, ASA DPD losses) and the rest ordinary syslog (interface up/down, ACL log lines for
TCP/80 and others, config changes, OSPF/BGP, logins; ASA connection build/teardown). Every %ASA
line passes the ingest prefilter, so --asa-share (the ASAs' share of the ordinary lines) sets
how much the writer thread reads. Over UDP each device sends from its own loopback address
(127.0.0.2...); over TCP all of it comes down one connection, as from a relay.

Phases:
- udp: the rates in --rates for --step-seconds each, then the sender unpaced; per step the
  lines sent, received (spibot_ingest_lines_total), recognised, dropped (kernel: this socket's
  drops in /proc/net/udp and the system's Udp RcvbufErrors/InErrors; spibot:
  spibot_ingest_dropped_total) and the time from arrival to commit.
- tcp: one connection, paced at 50,000 lines/s, then unpaced (what one worker sustains).
- hold: UDP at --hold-rate for --minutes; the receiving process's RSS every few seconds.

The commit latency is exact to the millisecond: the benchmark wraps the
spibot_ingest_commit_seconds histogram in the worker and counts every value observed in 1 ms
buckets (Ingest stamps a line when the receiver hands it over and observes `commit - arrival`
for every invalid-SPI line of the batch it commits). It does not count the time a datagram
waits in the socket buffer: the largest rx_queue seen is printed to bound that.

--profile N records the worker with py-spy (pip install py-spy; not a project dependency)
for N seconds at the start of the hold phase and prints where its time goes.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
INVALID_SHARE, COMPANION_SHARE = 0.05, 0.01
SCHEDULE = 200_003  # lines in the sender's cycle (prime: no beat with the device count)
BURST = 200  # lines sent per pacing step at most
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the traffic ---------------------------------------------------------------------------


@dataclass
class Device:
    name: str
    kind: str  # ios or asa
    framing: str
    address: str  # its public address: the local end of its tunnels
    sender: str  # the loopback address its datagrams come from
    peers: list[str] = field(default_factory=list)


# How each device's lines reach spibot: {seq} {ios} {iso} {asa} are filled in as it is sent.
FRAMINGS = {
    # IOS with `logging origin-id hostname`, straight to spibot
    "ios-direct": "<{pri}>{{seq}}: {dev}: *{{ios}}: {msg}",
    # IOS through rsyslog's RSYSLOG_ForwardFormat (RFC 3164 with an RFC 3339 time)
    "ios-relayed": "<{pri}>{{iso}} 10.20.0.9 {{seq}}: {dev}: *{{ios}}: {msg}",
    # IOS-XE `logging host ... transport udp ... session-id ... ` in RFC 5424
    "ios-5424": "<{pri}>1 {{iso}} {dev} - - - - {{seq}}: *{{ios}}: {msg}",
    # IOS through rsyslog's RSYSLOG_SyslogProtocol23Format: the sequence number as APP-NAME
    "ios-rsyslog-5424": "<{pri}>1 {{iso}} {dev} {{seq}} - - -  *{{ios}}: {msg}",
    # ASA with `logging device-id hostname` and `logging timestamp`
    "asa-direct": "<{pri}>{{asa}} {dev} : {msg}",
    # ASA through rsyslog in RFC 5424: the %ASA tag became the APP-NAME
    "asa-rsyslog-5424": "<{pri}>1 {{iso}} {dev} {tag} - - -  {text}",
}


def build_devices(rng: random.Random) -> list[Device]:
    layout = (
        [("hub", "ios", "ios-direct")] * 4
        + [("rtr", "ios", "ios-relayed")] * 6
        + [("rtr", "ios", "ios-5424")] * 4
        + [("rtr", "ios", "ios-rsyslog-5424")] * 4
        + [("asa", "asa", "asa-direct")] * 4
        + [("asa", "asa", "asa-rsyslog-5424")] * 2
    )
    devices = []
    for n, (role, kind, framing) in enumerate(layout):
        relayed = "relayed" in framing or "rsyslog" in framing
        devices.append(
            Device(
                f"{role}{n + 1:02d}-{'dc' if role == 'hub' else 'br'}",
                kind,
                framing,
                f"192.0.2.{n + 1}" if role == "hub" else f"198.51.100.{n + 1}",
                "127.0.0.200" if relayed else f"127.0.0.{n + 2}",
            )
        )
    hubs = [d for d in devices if d.name.startswith("hub")]
    for device in devices:
        if device in hubs:  # every hub to every branch: both ends of 80 tunnels report
            device.peers += [d.address for d in devices if d not in hubs]
        else:
            device.peers += [h.address for h in hubs]
        device.peers += [f"203.0.113.{rng.randrange(1, 255)}" for _ in range(12)]
    return devices


def _ios_messages(d: Device, rng: random.Random) -> tuple[list, list, list]:
    invalid, companion, ordinary = [], [], []
    for peer in d.peers:
        for _ in range(2):  # the SA's old SPI and the one after a rekey
            spi = rng.randrange(1 << 32)
            invalid.append(
                "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
                f"destaddr={d.address}, prot=50, spi=0x{spi:08X}({spi}), srcaddr={peer}, "
                f"input interface=GigabitEthernet0/0/{rng.randrange(3)}"
            )
        companion += [
            f"%CRYPTO-4-IKMP_NO_SA: IKE message from {peer} has no SA and is not an "
            "initialization offer",
            f"%CRYPTO-5-SESSION_STATUS: Crypto tunnel is DOWN. Peer {peer}:500 Id: {peer}",
        ]
    for _ in range(60):
        i, h, port = rng.randrange(8), rng.randrange(2, 250), rng.randrange(1024, 65535)
        bgp = rng.choice(("Up", "Down BGP Notification sent"))
        ordinary += [
            f"%LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/0/{i}, "
            f"changed state to {rng.choice(('up', 'down'))}",
            f"%LINK-3-UPDOWN: Interface GigabitEthernet0/0/{i}, changed state to "
            f"{rng.choice(('up', 'down'))}",
            f"%SEC-6-IPACCESSLOGP: list 101 permitted tcp 10.{i}.1.{h}({port}) -> 10.2.2.{h}(80),"
            f" {rng.randrange(1, 20)} packets",
            f"%SEC-6-IPACCESSLOGP: list OUTSIDE-IN permitted tcp 203.0.113.{h}"
            f"({rng.randrange(1024, 65535)}) -> {d.address}(443), 1 packet",
            f"%SYS-5-CONFIG_I: Configured from console by netops on vty0 (10.0.0.{h})",
            f"%OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.{h} on GigabitEthernet0/0/{i} from LOADING "
            "to FULL, Loading Done",
            f"%BGP-5-ADJCHANGE: neighbor 10.255.0.{h} {bgp}",
            f"%SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: netops] [Source: 10.0.0.{h}] "
            "[localport: 22] at 10:00:01 UTC Sun Nov 29 2026",
            f"%SSH-5-SSH2_USERAUTH: User 'netops' authentication for SSH2 Session from 10.0.0.{h} "
            "(tty = 0) using crypto cipher 'aes256-ctr', hmac 'hmac-sha2-256' Succeeded",
        ]
    # a denied TCP/80 probe now and then: a %SEC ... denied line is a candidate (an ACL in
    # front of a tunnel may drop its IKE), so these do reach the writer
    for _ in range(4):
        h = rng.randrange(2, 250)
        ordinary.append(
            f"%SEC-6-IPACCESSLOGP: list OUTSIDE-IN denied tcp 203.0.113.{h}"
            f"({rng.randrange(1024, 65535)}) -> {d.address}(80), 1 packet"
        )
    return invalid, companion, ordinary


def _asa_messages(d: Device, rng: random.Random) -> tuple[list, list, list]:
    invalid, companion, ordinary = [], [], []
    for peer in d.peers:
        for _ in range(2):
            spi = rng.randrange(1 << 32)
            invalid.append(
                f"%ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0x{spi:08X},"
                f" sequence number= 0x{rng.randrange(1, 1 << 16):X}) from {peer} to {d.address} "
                "with an invalid SPI."
            )
        companion += [
            f"%ASA-3-713123: Group = {peer}, IP = {peer}, IKE lost contact with remote peer, "
            "deleting connection (keepalive type: DPD)",
            f"%ASA-4-113019: Group = {peer}, Username = {peer}, IP = {peer}, Session "
            "disconnected. Session Type: LAN-to-LAN, Duration: 0h:41m:12s, Bytes xmt: 18220, "
            "Bytes rcv: 17904, Reason: Lost Service",
        ]
    for _ in range(120):
        h, c = rng.randrange(2, 250), rng.randrange(10_000_000)
        port = rng.randrange(1024, 65535)
        ordinary += [
            f"%ASA-6-302013: Built inbound TCP connection {c} for outside:203.0.113.{h}/{port} "
            f"(203.0.113.{h}/{port}) to dmz:10.30.0.{h % 20}/80 ({d.address}/80)",
            f"%ASA-6-302014: Teardown TCP connection {c} for outside:203.0.113.{h}/{port} to "
            f"dmz:10.30.0.{h % 20}/80 duration 0:00:{rng.randrange(60):02d} bytes "
            f"{rng.randrange(100, 90000)} TCP FINs from outside",
            f"%ASA-6-305011: Built dynamic TCP translation from inside:10.1.{h}.{h}/{port} to "
            f"outside:{d.address}/{rng.randrange(1024, 65535)}",
            f"%ASA-4-106023: Deny tcp src outside:203.0.113.{h}/{port} dst inside:10.1.1.{h}/23 "
            'by access-group "OUTSIDE_IN" [0x0, 0x0]',
        ]
    ordinary.append(
        "%ASA-5-111008: User 'netops' executed the 'write memory' command.",
    )
    return invalid, companion, ordinary


def _frame(device: Device, message: str) -> str:
    """A format string: the device's framing around one message, stamps left to fill in."""
    tag, _, text = message.partition(": ")
    severity = int(tag.split("-")[1]) if tag.count("-") >= 2 else 6
    facility = 20 if device.kind == "asa" else 23  # local4 is the ASA default, local7 IOS's
    return FRAMINGS[device.framing].format(
        pri=facility * 8 + severity, dev=device.name, msg=message, tag=tag, text=text
    )


class Traffic:
    """The lines the devices send, in a fixed random order, stamped with the time as sent."""

    def __init__(self, seed: int, asa_share: float) -> None:
        rng = random.Random(seed)
        self.devices = build_devices(rng)
        pools: dict[str, list[tuple[str, str]]] = {"invalid": [], "companion": []}
        ordinary: dict[str, list[tuple[str, str]]] = {"ios": [], "asa": []}
        for device in self.devices:
            make = _asa_messages if device.kind == "asa" else _ios_messages
            invalid, companion, plain = make(device, rng)
            pools["invalid"] += [(device.sender, _frame(device, m)) for m in invalid]
            pools["companion"] += [(device.sender, _frame(device, m)) for m in companion]
            ordinary[device.kind] += [(device.sender, _frame(device, m)) for m in plain]
        self.tunnel_ends = sum(len(d.peers) for d in self.devices)
        self.schedule: list[tuple[str, str]] = []
        for _ in range(SCHEDULE):
            roll = rng.random()
            if roll < INVALID_SHARE:
                pool = pools["invalid"]
            elif roll < INVALID_SHARE + COMPANION_SHARE:
                pool = pools["companion"]
            else:
                pool = ordinary["asa" if rng.random() < asa_share else "ios"]
            self.schedule.append(rng.choice(pool))
        self.next = rng.randrange(SCHEDULE)
        self.seq = rng.randrange(1000)
        self._stamped_at = -1
        self._stamps: dict[str, object] = {}

    def stamps(self) -> dict[str, object]:
        now = time.time()
        ms = int(now * 1000)
        if ms != self._stamped_at:
            self._stamped_at = ms
            t = datetime.fromtimestamp(now, UTC)
            hms = f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
            month = MONTHS[t.month - 1]
            self._stamps = {
                "ios": f"{month} {t.day} {hms}.{t.microsecond // 1000:03d}",
                "asa": f"{month} {t.day:02d} {t.year} {hms}",
                "iso": f"{t.year}-{t.month:02d}-{t.day:02d}T{hms}.{t.microsecond:06d}+00:00",
                "seq": 0,
            }
        return self._stamps

    def take(self, n: int) -> list[tuple[str, bytes]]:
        """The next n lines as (sender address, frame)."""
        stamps = self.stamps()
        schedule, at, seq = self.schedule, self.next, self.seq
        out = []
        for _ in range(n):
            sender, template = schedule[at]
            at = at + 1 if at + 1 < SCHEDULE else 0
            seq += 1
            stamps["seq"] = seq
            out.append((sender, template.format_map(stamps).encode()))
        self.next, self.seq = at, seq
        return out


# --- the sender (its own process) ----------------------------------------------------------


def send(
    transport: str,
    port: int,
    rate: int,
    seconds: float,
    seed: int,
    asa_share: float,
    framing: str,
    result: mp.connection.Connection,
) -> None:
    """Send for `seconds` at `rate` lines/s (0: as fast as this process can), then report
    (lines sent, seconds taken). Over TCP the time runs until spibot has read everything."""
    traffic = Traffic(seed, asa_share)
    target = ("127.0.0.1", port)
    socks: dict[str, socket.socket] = {}
    stream = None
    if transport == "udp":
        for device in traffic.devices:
            if device.sender not in socks:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind((device.sender, 0))
                socks[device.sender] = sock
    else:
        stream = socket.create_connection(target)
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        n = BURST if not rate else min(BURST, int((now - start) * rate) - sent)
        if n <= 0:
            time.sleep(min(0.001, (sent + 1) / rate - (now - start)))
            continue
        lines = traffic.take(n)
        if stream is None:
            for sender, frame in lines:
                socks[sender].sendto(frame, target)
        elif framing == "octet":
            stream.sendall(b"".join(b"%d %s" % (len(f), f) for _, f in lines))
        else:
            stream.sendall(b"".join(f + b"\n" for _, f in lines))
        sent += n
    if stream is not None:
        stream.shutdown(socket.SHUT_WR)
        stream.settimeout(120)
        while stream.recv(4096):  # spibot closes once it has read to our end
            pass
        stream.close()
    elapsed = time.perf_counter() - start
    for sock in socks.values():
        sock.close()
    result.send((sent, elapsed))


# --- the worker: one Feed in its own process -----------------------------------------------


class _Recording:
    """The commit histogram, counting every value it is given in 1 ms buckets as well: exact
    percentiles to the millisecond, in memory that does not grow with the run (keeping every
    value would itself grow the worker's RSS by ~50 MiB in a 10-minute run)."""

    BUCKETS = 120_000  # 1 ms each: up to 2 minutes; anything later goes in the last one

    def __init__(self, histogram) -> None:
        self.histogram = histogram
        self.counts = array("q", bytes(8 * self.BUCKETS))
        self.largest = float("nan")
        self.lock = threading.Lock()

    def observe(self, value: float) -> None:
        bucket = min(self.BUCKETS - 1, max(0, int(value * 1000)))
        with self.lock:
            self.counts[bucket] += 1
            if not value <= self.largest:  # nan at first
                self.largest = value
        self.histogram.observe(value)

    def take(self) -> tuple[list[int], float]:
        with self.lock:
            counts, self.counts = self.counts, array("q", bytes(8 * self.BUCKETS))
            largest, self.largest = self.largest, float("nan")
        return counts.tolist(), largest


def serve(db: str, control: mp.connection.Connection) -> None:
    from datetime import timedelta

    from prometheus_client import REGISTRY

    from bot import metrics, settings
    from bot.feed.alerter import JsonLines
    from bot.feed.runner import Feed, FeedConfig
    from kb.store import Store

    recording = _Recording(metrics.INGEST_COMMIT_SECONDS)
    metrics.INGEST_COMMIT_SECONDS = recording  # bot/feed/ingest.py looks it up at each commit
    Store(db).close()
    config = FeedConfig(
        db,
        "",
        ["udp://127.0.0.1:0", "tcp://127.0.0.1:0"],
        None,
        quiet=timedelta(minutes=settings.feed_quiet_minutes()),
        flood=settings.alert_flood(),
        channels=lambda store: {"stdout": False},
    )
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the alerts' stream for the whole run
    feed = Feed(config, JsonLines(devnull))
    feed.start()
    ports = {t: p for t, _, p in feed.receivers.addresses}
    udp = feed.receivers._udp[0]
    control.send((ports, udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)))

    def value(name: str, labels: dict | None = None) -> float:
        return REGISTRY.get_sample_value(name, labels or {}) or 0.0

    while True:
        command = control.recv()
        if command == "drain":
            control.send(feed.ingest.drained(60))
            continue
        if command == "stop":
            feed.stop()
        dropped = {}
        for family in REGISTRY.collect():
            if family.name == "spibot_ingest_dropped":
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        dropped[sample.labels["reason"]] = sample.value
        control.send(
            {
                "lines": value("spibot_ingest_lines_total", {"door": "syslog"}),
                "recognised": value("spibot_ingest_recognised_total"),
                "opened": value("spibot_incidents_opened_total"),
                "dropped": dropped,
                "latencies": recording.take(),
            }
        )
        if command == "stop":
            devnull.close()
            return


# --- measuring from outside ----------------------------------------------------------------


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def udp_socket(port: int) -> tuple[int, int]:
    """(rx_queue bytes, drops) of the UDP socket bound to this port, from /proc/net/udp."""
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if int(parts[1].split(":")[1], 16) == port:
                return int(parts[4].split(":")[1], 16), int(parts[-1])
    return 0, 0


def udp_errors() -> dict[str, int]:
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], map(int, rows[1][1:]), strict=True))


def percentile(counts: list[int], share: float) -> float:
    """The value (seconds, to the millisecond) below which `share` of the counted ones lie."""
    total = sum(counts)
    if not total:
        return float("nan")
    wanted, seen = min(total - 1, int(share * total)), 0
    for millis, n in enumerate(counts):
        seen += n
        if seen > wanted:
            return millis / 1000
    return (len(counts) - 1) / 1000


class Sampler:
    """Samples the worker's RSS, CPU and its UDP socket's queue while a step runs."""

    def __init__(self, pid: int, udp_port: int, every: float) -> None:
        self.pid, self.udp_port, self.every = pid, udp_port, every
        self.rss: list[tuple[float, float]] = []
        self.max_queue = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = time.monotonic()

    def __enter__(self) -> Sampler:
        self.started = time.monotonic()
        self.cpu_start = cpu_seconds(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        next_rss = 0.0
        while not self._stop.wait(0.05):
            queued, _ = udp_socket(self.udp_port)
            self.max_queue = max(self.max_queue, queued)
            now = time.monotonic() - self.started
            if now >= next_rss:
                self.rss.append((now, rss_mib(self.pid)))
                next_rss = now + self.every

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.elapsed = time.monotonic() - self.started
        self.cpu = cpu_seconds(self.pid) - self.cpu_start
        self.rss.append((self.elapsed, rss_mib(self.pid)))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ctx = mp.get_context("spawn")
        self.tmp = tempfile.mkdtemp(prefix="spibot-ingest-")
        self.control, theirs = self.ctx.Pipe()
        self.worker = self.ctx.Process(
            target=serve, args=(os.path.join(self.tmp, "kb.db"), theirs), daemon=True
        )
        self.worker.start()
        self.ports, self.rcvbuf = self.control.recv()
        self.seed = args.seed

    def stats(self, command: str = "stats") -> dict:
        self.control.send(command)
        return self.control.recv()

    def close(self) -> dict:
        final = self.stats("stop")
        self.worker.join(30)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return final

    def drain(self, transport: str) -> None:
        deadline = time.monotonic() + 60
        if transport == "udp":
            while udp_socket(self.ports["udp"])[0] and time.monotonic() < deadline:
                time.sleep(0.02)
        time.sleep(0.2)  # the receiver hands its last datagrams over
        self.control.send("drain")
        self.control.recv()

    def step(self, transport: str, rate: int, seconds: float, every: float = 1.0) -> dict:
        before, errors = self.stats(), udp_errors()
        _, sock_drops = udp_socket(self.ports["udp"])
        mine, theirs = self.ctx.Pipe()
        self.seed += 1
        sender = self.ctx.Process(
            target=send,
            args=(
                transport,
                self.ports[transport],
                rate,
                seconds,
                self.seed,
                self.args.asa_share,
                self.args.tcp_framing,
                theirs,
            ),
        )
        with Sampler(self.worker.pid, self.ports["udp"], every) as sampler:
            sender.start()
            sent, elapsed = mine.recv()
            sender.join()
            self.drain(transport)
        after, errors_after = self.stats(), udp_errors()
        spibot_drops = {
            reason: n - before["dropped"].get(reason, 0)
            for reason, n in after["dropped"].items()
            if n - before["dropped"].get(reason, 0)
        }
        latencies, largest = after["latencies"]
        return {
            "transport": transport,
            "rate": rate,
            "sent": sent,
            "elapsed": elapsed,
            "received": int(after["lines"] - before["lines"]),
            "recognised": int(after["recognised"] - before["recognised"]),
            "opened": int(after["opened"] - before["opened"]),
            "socket_drops": udp_socket(self.ports["udp"])[1] - sock_drops,
            "kernel": {k: errors_after[k] - errors[k] for k in ("RcvbufErrors", "InErrors")},
            "spibot_drops": spibot_drops,
            "p50": percentile(latencies, 0.50),
            "p99": percentile(latencies, 0.99),
            "max": largest,
            "committed": sum(latencies),
            "cpu": sampler.cpu / sampler.elapsed,
            "rss": sampler.rss,
            "max_queue": sampler.max_queue,
        }


# --- the stages on their own: CPU time per line, one thread, no sockets between them --------


def stages(args: argparse.Namespace, seconds: float = 5.0, rate: int = 50_000) -> None:
    """CPU seconds each stage of the worker spends on `seconds` of traffic at `rate`: what
    the worker's one core (one GIL) must fit, whatever else the machine is doing."""
    from datetime import timedelta

    from bot.feed.alerter import Alerter, JsonLines
    from bot.feed.ingest import MAX_LINE_BYTES, Ingest
    from bot.feed.receivers import _datagram, _source
    from kb.feed.batch import Received, sort_batch
    from kb.feed.syslog import read_frame
    from kb.store import Store

    cpu = time.process_time
    traffic = Traffic(args.seed, args.asa_share)
    total = int(seconds * rate)
    lines = traffic.take(total)
    cost: dict[str, float] = {}

    # receiving: recvfrom and splitting datagrams, as the UDP thread does (the send is not
    # timed: 2,000 datagrams at a time are queued in the socket first)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind(("127.0.0.1", 0))
    target = rx.getsockname()
    senders = {s: socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for s, _ in lines[:5000]}
    for address, sock in senders.items():
        sock.bind((address, 0))
    runs: list[dict[str, list[bytes]]] = []
    cost["recvfrom + split"] = 0.0
    for at in range(0, total, 2000):
        for sender, frame in lines[at : at + 2000]:
            senders[sender].sendto(frame, target)
        started = cpu()
        batches: dict[str, list[bytes]] = {}
        for _ in range(len(lines[at : at + 2000])):
            data, address = rx.recvfrom(65536, socket.MSG_DONTWAIT)
            _datagram(data, batches.setdefault(_source(address), []))
            if sum(map(len, batches.values())) >= 512:
                runs.append(batches)
                batches = {}
        runs.append(batches)
        cost["recvfrom + split"] += cpu() - started
    rx.close()
    for sock in senders.values():
        sock.close()

    ingest = Ingest(lambda: None, quiet=timedelta(minutes=30), capacity=1 << 30)
    started = cpu()
    for batches in runs:
        for source, frames in batches.items():
            ingest.offer(frames, source, framed=True)
    cost["Ingest.offer (prefilter)"] = cpu() - started
    taken = ingest._take()
    per_batch = -(-len(taken) // max(1, int(seconds * 10)))  # 0.1 s of lines, as the writer takes
    batches_in = [taken[at : at + per_batch] for at in range(0, len(taken), per_batch)]

    started = cpu()
    received = [
        [
            Received(frame.line, frame.device, arrived)
            for item, source, _, arrived in chunk
            if (frame := read_frame(item[:MAX_LINE_BYTES], source)) is not None
        ]
        for chunk in batches_in
    ]
    cost["read_frame"] = cpu() - started
    started = cpu()
    sorted_batches = [sort_batch(chunk) for chunk in received]
    cost["sort_batch (recognise)"] = cpu() - started

    tmp = tempfile.mkdtemp(prefix="spibot-stages-")
    try:
        db = os.path.join(tmp, "kb.db")
        store = Store(db)
        started, wall = cpu(), time.perf_counter()
        for batch in sorted_batches:
            store.feed.record(batch, datetime.now(UTC), timedelta(minutes=30))
        cost["store.feed.record"] = cpu() - started
        record_wall = time.perf_counter() - wall
        with open(os.devnull, "w") as devnull:
            alerter = Alerter(
                lambda: Store(db),
                JsonLines(devnull),
                lambda _store: {"stdout": False},
                quiet=timedelta(minutes=30),
                flood=10,
            )
            started = cpu()
            rounds = 0
            while store.feed.to_review("9999", "9999"):  # every incident, due or not
                alerter.run_once(store)
                rounds += 1
            reviewed = cpu() - started
        incidents = len(store.incidents(limit=100_000))
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    per_line = sum(cost.values()) / total
    print(
        f"\nstages: CPU time for {seconds:.0f} s of traffic at {rate:,} lines/s ({total:,} lines,"
        f" {len(taken):,} past the prefilter, {len(batches_in)} batches; one thread, CPU time)"
    )
    print("| stage | CPU s | µs per line received | share |")
    print("|---|---|---|---|")
    for name, spent in cost.items():
        share = f"{spent / seconds:.0%} of a core"
        print(f"| {name} | {spent:.2f} | {spent / total * 1e6:.2f} | {share} |")
    print(
        f"| all | {sum(cost.values()):.2f} | {per_line * 1e6:.2f} | "
        f"{sum(cost.values()) / seconds:.0%} of a core: at most {1 / per_line:,.0f} lines/s |"
    )
    print(
        f"(record took {record_wall:.2f} s of wall time with its fsyncs; the alert loop's first "
        f"review of the {incidents} incidents: {reviewed:.2f} s CPU in {rounds} rounds, "
        f"{reviewed / max(1, incidents) * 1000:.1f} ms an incident, again every "
        "30 s while lines keep coming)"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if seconds == seconds else "-"


def print_steps(title: str, steps: list[dict]) -> None:
    print(f"\n{title}")
    print(
        "| offered/s | sent | received | received/s | recognised | dropped (socket/spibot) "
        "| commit p50 / p99 / max ms | worker CPU | max rx_queue |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in steps:
        offered = f"{s['rate']:,}" if s["rate"] else f"unpaced ({s['sent'] / s['elapsed']:,.0f})"
        spibot = sum(s["spibot_drops"].values())
        reasons = ",".join(f"{k}={v:.0f}" for k, v in s["spibot_drops"].items())
        print(
            f"| {offered} | {s['sent']:,} | {s['received']:,} | "
            f"{s['received'] / s['elapsed']:,.0f} | {s['recognised']:,} | "
            f"{s['socket_drops']:,} / {spibot:,.0f}{f' ({reasons})' if reasons else ''} | "
            f"{_ms(s['p50'])} / {_ms(s['p99'])} / {_ms(s['max'])} | {s['cpu']:.2f} | "
            f"{s['max_queue'] // 1024:,} KiB |"
        )
    kernel = Counter()
    for s in steps:
        kernel.update(s["kernel"])
    print(
        f"(system-wide Udp RcvbufErrors/InErrors over these steps: {kernel['RcvbufErrors']:,} / "
        f"{kernel['InErrors']:,}; includes other processes' sockets)"
    )


def profile(pid: int, seconds: int, out: str) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [spy, "record", "-p", str(pid), "-d", str(seconds), "-r", "200"]
    command += ["--nonblocking", "-f", "raw", "-o", out, "--threads"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(path: str, top: int = 20) -> None:
    leaf, inclusive, threads = Counter(), Counter(), Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            n = int(count)
            total += n
            threads[frames[0]] += n
            leaf[frames[-1]] += n
            for frame in set(frames[1:]):
                inclusive[frame] += n
    print(f"\nprofile: {total:,} samples of non-idle threads")
    for name, n in threads.most_common():
        print(f"  {n / total:6.1%}  {name}")
    print("self time (the frame on top of the stack):")
    for name, n in leaf.most_common(top):
        print(f"  {n / total:6.1%}  {name}")
    print("inclusive time:")
    for name, n in inclusive.most_common(top):
        print(f"  {n / total:6.1%}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default="stages,udp,tcp,hold")
    parser.add_argument("--rates", default="25000,50000,75000,100000")
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument(
        "--stage-seconds", type=float, default=5.0, help="traffic the stages phase times"
    )
    parser.add_argument("--minutes", type=float, default=1.0, help="length of the hold phase")
    parser.add_argument("--hold-rate", type=int, default=50_000)
    parser.add_argument("--tcp-framing", choices=("octet", "lf"), default="octet")
    parser.add_argument("--asa-share", type=float, default=0.25)
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    phases = args.phases.split(",")
    traffic = Traffic(args.seed, args.asa_share)
    sample = traffic.take(SCHEDULE)
    from kb.scan import has_candidate

    passing = sum(has_candidate(f) for _, f in sample) / len(sample)
    print(
        f"spibot ingest benchmark: {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {len(traffic.devices)} devices, "
        f"{traffic.tunnel_ends} tunnel ends; {INVALID_SHARE:.0%} invalid-SPI, "
        f"{COMPANION_SHARE:.0%} companions; {passing:.1%} of lines pass the ingest prefilter "
        f"(ASA share of ordinary lines {args.asa_share:.0%}); mean frame "
        f"{sum(len(f) for _, f in sample) / len(sample):.0f} bytes"
    )
    if "stages" in phases:
        stages(args, seconds=args.stage_seconds)
    if not {"udp", "tcp", "hold"} & set(phases):
        return
    bench = Bench(args)
    print(f"worker pid {bench.worker.pid}; UDP SO_RCVBUF {bench.rcvbuf // 1024:,} KiB")
    try:
        bench.step("udp", 10_000, 3)  # warm up: the incidents open, the caches fill
        if "udp" in phases:
            rates = [int(r) for r in args.rates.split(",")]
            steps = [bench.step("udp", rate, args.step_seconds) for rate in rates]
            steps.append(bench.step("udp", 0, args.step_seconds))
            print_steps(f"UDP, {args.step_seconds:.0f} s per step", steps)
            clean = [s["rate"] for s in steps if s["rate"] and not _dropped(s)]
            below = [r for r in clean if not any(_dropped(s) for s in steps if 0 < s["rate"] <= r)]
            print(f"highest offered rate with no drop: {max(below, default=0):,} lines/s")
        if "tcp" in phases:
            steps = [
                bench.step("tcp", 50_000, args.step_seconds),
                bench.step("tcp", 0, args.step_seconds),
            ]
            print_steps(f"TCP ({args.tcp_framing} framing, one connection)", steps)
        if "hold" in phases:
            seconds = args.minutes * 60
            every = 5.0 if seconds > 120 else 2.0
            holder = threading.Thread(
                target=lambda: hold.append(bench.step("udp", args.hold_rate, seconds, every))
            )
            hold: list[dict] = []
            holder.start()
            if args.profile:
                time.sleep(5)
                out = os.path.join(bench.tmp, "profile.txt")
                profile(bench.worker.pid, args.profile, out)
                print_profile(out)
            holder.join()
            (s,) = hold
            print_steps(f"hold: UDP at {args.hold_rate:,} lines/s for {seconds:.0f} s", [s])
            rss = s["rss"]
            print(
                f"RSS of the receiving process: start {rss[0][1]:.1f} MiB, "
                f"max {max(r for _, r in rss):.1f} MiB, end {rss[-1][1]:.1f} MiB"
            )
            marks = max(1, len(rss) // 10)
            print("  " + ", ".join(f"{t:.0f}s {r:.1f}" for t, r in rss[::marks]))
    finally:
        bench.close()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _dropped(step: dict) -> bool:
    return bool(step["socket_drops"] or step["spibot_drops"] or step["received"] < step["sent"])


if __name__ == "__main__":
    main()
