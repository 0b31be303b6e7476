"""Speed of reading pasted device state: a 100-peer hub's `show crypto ipsec sa` with its log.

    python benchmarks/state_parse.py [--peers 100] [--log-lines 1000] [--runs 20]

Builds an IOS hub's `show crypto ipsec sa` (one crypto-map section per peer, one inbound and
one outbound ESP SA each, in the format of tests/fixtures/state/ios-show-crypto-ipsec-sa.txt),
a log of ordinary messages with invalid-SPI lines from a few of those peers, and one spoke's
`show crypto ipsec sa` still sending with the SPI the hub rejects. Times (best of N)
`kb.state.reader.read_state` on the hub's output alone, and the whole
`kb.diagnose.diagnose(text, None, record=False)` on log + hub + spoke; prints lines/s and ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb.diagnose import diagnose
from kb.state.reader import read_state

HUB = "192.0.2.1"
REJECTED = (3, 41, 77)  # the peers whose stale SPI the hub logs


def peer(n: int) -> str:
    return f"198.51.{100 + n // 250}.{n % 250 + 1}"


def spis(n: int) -> tuple[int, int]:
    """The hub's inbound and outbound SPI for peer n."""
    return 0x10000000 + n * 0x1011, 0x20000000 + n * 0x2022


def stale(n: int) -> int:
    """The SPI peer n still sends with: gone from the hub."""
    return 0x3C000000 + n * 0x3033


def esp_sa(spi: int, conn: int, remaining: int) -> list[str]:
    return [
        f"      spi: 0x{spi:08X}({spi})",
        "        transform: esp-256-aes esp-sha256-hmac ,",
        "        in use settings ={Tunnel, }",
        f"        conn id: {conn}, flow_id: CSR:{conn}, sibling_flags FFFFFFFF80000048, "
        "crypto map: VPN-MAP",
        f"        sa timing: remaining key lifetime (k/sec): (4607999/{remaining})",
        "        IV size: 16 bytes",
        "        replay detection support: Y",
        "        Status: ACTIVE(ACTIVE)",
    ]


def section(n: int, local: str, remote: str, inbound: int, outbound: int) -> list[str]:
    """One crypto-map entry's SAs, as IOS-XE prints them (standard, not detail)."""
    packets = 1000 + 37 * n
    lines = [
        "   protected vrf: (none)",
        "   local  ident (addr/mask/prot/port): (10.0.0.0/255.255.0.0/0/0)",
        f"   remote ident (addr/mask/prot/port): (10.{n % 250 + 1}.0.0/255.255.0.0/0/0)",
        f"   current_peer {remote} port 500",
        "     PERMIT, flags={origin_is_acl,}",
        f"    #pkts encaps: {packets}, #pkts encrypt: {packets}, #pkts digest: {packets}",
        f"    #pkts decaps: {packets - 5}, #pkts decrypt: {packets - 5}, "
        f"#pkts verify: {packets - 5}",
        "    #pkts compressed: 0, #pkts decompressed: 0",
        "    #pkts not compressed: 0, #pkts compr. failed: 0",
        "    #pkts not decompressed: 0, #pkts decompress failed: 0",
        f"    #send errors 0, #recv errors {12 if n in REJECTED else 0}",
        "",
        f"     local crypto endpt.: {local}, remote crypto endpt.: {remote}",
        "     plaintext mtu 1438, path mtu 1500, ip mtu 1500, ip mtu idb GigabitEthernet0/0/0",
        f"     current outbound spi: 0x{outbound:08X}({outbound})",
        "     PFS (Y/N): N, DH group: none",
        "",
        "     inbound esp sas:",
        *esp_sa(inbound, 2 * n + 1, 3600 - n * 7 % 3000),
        "",
        "     inbound ah sas:",
        "",
        "     inbound pcp sas:",
        "",
        "     outbound esp sas:",
        *esp_sa(outbound, 2 * n + 2, 3600 - n * 7 % 3000),
        "",
        "     outbound ah sas:",
        "",
        "     outbound pcp sas:",
        "",
    ]
    return lines


def hub_state(peers: int) -> str:
    lines = [
        "hub#show crypto ipsec sa",
        "",
        "interface: GigabitEthernet0/0/0",
        f"    Crypto map tag: VPN-MAP, local addr {HUB}",
        "",
    ]
    for n in range(peers):
        inbound, outbound = spis(n)
        lines += section(n, HUB, peer(n), inbound, outbound)
    return "\n".join(lines) + "\n"


def spoke_state(n: int) -> str:
    """Peer n's view: it still sends with the stale SPI; its inbound is the hub's outbound."""
    _, hub_outbound = spis(n)
    lines = [
        f"spoke-{n}#show crypto ipsec sa peer {HUB}",
        "",
        "interface: GigabitEthernet0/0",
        f"    Crypto map tag: VPN-MAP, local addr {peer(n)}",
        "",
        *section(n, peer(n), HUB, hub_outbound, stale(n)),
    ]
    return "\n".join(lines) + "\n"


def log(lines: int) -> str:
    out = []
    for i in range(lines):
        stamp = f"Nov  5 10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}"
        if i % 30 == 0:
            n = REJECTED[i // 30 % len(REJECTED)]
            spi = stale(n)
            out.append(
                f"{stamp}: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid "
                f"spi for destaddr={HUB}, prot=50, spi=0x{spi:08X}({spi}), srcaddr={peer(n)}, "
                "input interface=GigabitEthernet0/0/0"
            )
        else:
            out.append(
                f"{stamp}: %LINEPROTO-5-UPDOWN: Line protocol on Interface "
                f"GigabitEthernet0/{i % 4}, changed state to up"
            )
    return "\n".join(out) + "\n"


def best(runs: int, work: Callable[[], object]) -> float:
    """The fastest of `runs` runs, in seconds (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=100)
    parser.add_argument("--log-lines", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    hub = hub_state(args.peers)
    paste = log(args.log_lines) + hub + spoke_state(REJECTED[0])
    hub_lines, paste_lines = hub.count("\n"), paste.count("\n")
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    )

    blocks = read_state(hub)
    tunnels = sum(len(b.tunnels) for b in blocks)
    seconds = best(args.runs, lambda: read_state(hub))
    print(
        f"read_state, hub `show crypto ipsec sa` ({hub_lines:,} lines, {tunnels} peers): "
        f"{seconds * 1000:.1f} ms, {hub_lines / seconds:,.0f} lines/s (best of {args.runs})"
    )

    diagnose(paste, None, record=False)  # warm the bundled articles, as a running bot is
    result = diagnose(paste, None, record=False)
    seconds = best(args.runs, lambda: diagnose(paste, None, record=False))
    print(
        f"diagnose, log + hub + spoke state ({paste_lines:,} lines, "
        f"{len(result.state)} outputs, {len(result.groups)} groups): "
        f"{seconds * 1000:.1f} ms, {paste_lines / seconds:,.0f} lines/s (best of {args.runs})"
    )
    print(
        f"top cause for {result.peer}: {result.causes[0].id if result.causes else None} "
        f"({result.confidence}); {len(result.findings)} finding(s)"
    )


if __name__ == "__main__":
    main()
