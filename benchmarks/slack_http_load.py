"""Signed paste events against `spibot serve --http`, with the fake Slack Web API.

    python benchmarks/slack_http_load.py [--seconds 30] [--concurrency 16] [--workers 1]

Starts the fake Web API on a loopback port, starts `spibot serve --http` as a separate
process pointed at it (SLACK_API_URL), then for --seconds sends signed `message` events, each
a distinct 6-line invalid-SPI paste, from --concurrency threads. Prints events/s, ack latency
percentiles and how many threaded replies the fake recorded, and how fast they landed.
Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakeslack import FakeSlack, event_body, sign
from tests.slack_harness import SECRET, ServeProcess

ROOT = Path(__file__).resolve().parents[1]


def paste(n: int) -> str:
    peer = f"198.51.100.{n % 200 + 1}"
    spi = 0x10000 + n
    return "\n".join(
        f"Mar  3 09:{14 + m}:02.113: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has "
        f"invalid spi for destaddr=192.0.2.1, prot=50, spi=0x{spi:08X}({spi}), srcaddr={peer}, "
        "input interface=GigabitEthernet0/0/0"
        for m in range(6)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered events/s in all (default: as fast as acked)",
    )
    args = parser.parse_args()

    fake = FakeSlack().start()
    tmp = tempfile.mkdtemp(prefix="spibot-load-")
    server = ServeProcess(fake, os.path.join(tmp, "kb.db"), "--workers", str(args.workers))
    port = server.port
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(10**9))
    lock = threading.Lock()
    stop_at = time.monotonic() + args.seconds

    def client() -> None:
        rng = random.Random()
        interval = args.concurrency / args.rate if args.rate else 0.0
        next_send = time.monotonic() + rng.random() * interval
        while time.monotonic() < stop_at:
            if interval:
                time.sleep(max(0.0, next_send - time.monotonic()))
                next_send += interval
            with lock:
                n = next(counter)
            ts = f"{1700000000 + n}.{rng.randrange(10**6):06d}"
            event = {
                "type": "message",
                "channel": f"C{n % 50}",
                "channel_type": "channel",
                "user": "U1",
                "text": paste(n),
                "ts": ts,
                "event_ts": ts,
            }
            body = event_body(event, f"EvLOAD{n:09d}")
            headers = {"Content-Type": "application/json", **sign(SECRET, body)}
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
                status = conn.getresponse().status
                conn.close()
            except OSError as exc:
                with lock:
                    errors.append(str(exc))
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors.append(f"HTTP {status}")

    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent_for = time.monotonic() - began
    sent = len(latencies)
    # Replies are posted after the ack; wait (bounded) for the last ones to land.
    deadline = time.monotonic() + 60
    while len(fake.calls_to("chat.postMessage")) < sent and time.monotonic() < deadline:
        time.sleep(0.2)
    replies = fake.calls_to("chat.postMessage")
    replied_for = time.monotonic() - began
    server.stop()
    fake.stop()

    q = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else [0] * 99
    )
    offered = f"{args.rate:g} events/s offered" if args.rate else "unpaced"
    print(
        f"workers {args.workers}, concurrency {args.concurrency}, {offered}, "
        f"{args.seconds:g} s of sending"
    )
    print(f"events acked: {sent:,} ({sent / sent_for:,.1f} events/s), errors: {len(errors)}")
    print(f"ack latency: p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms")
    print(
        f"threaded replies recorded: {len(replies):,} of {sent:,} "
        f"({len(replies) / replied_for:,.1f} pastes/s end to end over {replied_for:.1f} s)"
    )
    duplicates = len(replies) - len({(r["channel"], r["thread_ts"]) for r in replies})
    print(f"duplicate replies: {duplicates}")
    if errors:
        print("first errors:", errors[:3])


if __name__ == "__main__":
    main()
