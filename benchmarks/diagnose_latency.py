"""Latency of `diagnose` and `lookup` against a knowledge base with a long memory.

    python benchmarks/diagnose_latency.py [--incidents 100000] [--peers 20000] [--runs 200]

Builds a database with the seed articles plus synthetic incidents (each with a note and,
for most resolved ones, a "fixed by" verdict) over many peers, then times `kb.diagnose` on a
1,000-line paste (10 known peers, recording incidents as the CLI does) and `kb.lookup` on a
mix of peer, SPI, device and free-text queries. Prints p50/p95/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb.article import REQUIRED_IDS
from kb.diagnose import diagnose
from kb.lookup import lookup
from kb.store import Store

NOTES = (
    "cleared SAs on the hub, traffic back",
    "branch firewall dropped udp 4500",
    "hsrp failover during maintenance window",
    "lifetime 28800 on the far end, 3600 here",
    "ISP path loss, replay errors",
    "peer rebooted overnight",
)


def peer(n: int) -> str:
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def build(store: Store, incidents: int, peers: int, rng: random.Random) -> None:
    rows, spis, notes, feedback = [], [], [], []
    for i in range(1, incidents + 1):
        p = rng.randrange(peers)
        fixed = rng.choice(REQUIRED_IDS) if rng.random() < 0.7 else None
        stamp = f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T12:00:00+00:00"
        rows.append(
            {
                "id": i,
                "peer": peer(p),
                "local": f"192.0.2.{p % 200 + 1}",
                "device": f"rtr-site-{p % 5000:04d}",
                "platform": "ios",
                "status": "resolved" if fixed else "open",
                "opened_at": stamp,
                "updated_at": stamp,
                "resolved_at": stamp if fixed else None,
                "fixed_by": fixed,
                "top_cause": fixed,
                "summary": "synthetic",
                "signals": json.dumps(
                    rng.sample(["repeating_spi", "ike_no_sa", "single_event", "nat_t"], 2)
                ),
                "event_count": rng.randint(1, 50),
                "source": "bench",
            }
        )
        spis.append({"incident_id": i, "spi": f"0x{rng.randrange(1 << 32):08X}"})
        notes.append(
            {"incident_id": i, "text": rng.choice(NOTES), "author": "bench", "created_at": stamp}
        )
        if fixed:
            feedback.append(
                {"incident_id": i, "article_id": fixed, "verdict": "fixed", "created_at": stamp}
            )
    with store.writing("build the benchmark database") as db:
        db["incidents"].insert_all(rows, batch_size=5000)
        db["incident_spis"].insert_all(spis, batch_size=5000)
        db["notes"].insert_all(notes, batch_size=5000)
        db["feedback"].insert_all(feedback, batch_size=5000)


def paste(rng: random.Random, peers: int) -> str:
    chosen = [rng.randrange(peers) for _ in range(10)]
    lines = []
    for n in range(1000):
        p = chosen[n % 10]
        spi = 0x1000 + p
        lines.append(
            f"Mar  3 09:{n // 60 % 60:02d}:{n % 60:02d}.000: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: "
            f"rec'd IPSEC packet has invalid spi for destaddr=192.0.2.{p % 200 + 1}, prot=50, "
            f"spi=0x{spi:08X}({spi}), srcaddr={peer(p)}, input interface=Gi0/0"
        )
    return "\n".join(lines) + "\n"


def percentiles(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms (n={len(samples)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--peers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        start = time.perf_counter()
        build(store, args.incidents, args.peers, rng)
        print(
            f"built {args.incidents:,} incidents and notes over {args.peers:,} peers "
            f"in {time.perf_counter() - start:.1f} s"
        )

        pastes = [paste(rng, args.peers) for _ in range(20)]
        diagnose(pastes[0], store)  # warm caches, as a running bot would be
        samples = []
        for n in range(args.runs):
            t = time.perf_counter()
            result = diagnose(pastes[n % len(pastes)], store)
            samples.append((time.perf_counter() - t) * 1000)
            assert result.groups
        print(f"diagnose, 1,000-line paste, 10 peers, recording: {percentiles(samples)}")

        known_spis = [
            r["spi"]
            for r in store.db.query("select spi from incident_spis order by random() limit 500")
        ]
        kinds = {
            "peer": lambda p: peer(p),
            "SPI": lambda p: known_spis[p % len(known_spis)],
            "device": lambda p: f"rtr-site-{p % 5000:04d}",
            "free text": lambda p: ("udp 4500 firewall", "peer rebooted", "hsrp")[p % 3],
        }
        every = []
        for name, make in kinds.items():
            samples = []
            for _ in range(args.runs):
                q = make(rng.randrange(args.peers))
                t = time.perf_counter()
                lookup(store, q)
                samples.append((time.perf_counter() - t) * 1000)
            every += samples
            print(f"lookup, {name}: {percentiles(samples)}")
        print(f"lookup, all kinds: {percentiles(every)}")
        counts = store.counts()
        print(f"database now: {counts}")
        store.close()


if __name__ == "__main__":
    main()
