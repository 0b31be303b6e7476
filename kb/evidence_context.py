"""Signals from what surrounds the invalid-SPI lines: FortiGate's own fields, this box (a reload,
resources running out), the operator's session (a clear, NAT debug, drop counters) and the
defect signatures in ASA/FTD debugs. One small rule per family, as in kb/evidence.py."""

from __future__ import annotations

import re
from collections import defaultdict

from kb.events import Event, is_private
from kb.fortigate import IKE_PORTS, NO_TUNNEL, tunnel_and_port
from kb.model import MODEL
from kb.paste import Paste, first_invalid, precedes, where
from kb.signals import Signal, emits
from kb.stamps import duration
from kb.transcripts import counter_value, nat_addresses

RELOAD_WINDOW = MODEL["evidence"]["reload_window"]  # numbers: kb/model.yaml
PFKEY_REKEY_WINDOW = MODEL["evidence"]["pfkey_rekey_window"]
MANY_DROPS = MODEL["evidence"]["many_drops"]
_CRYPTO_PROCESS = re.compile(r"process\s*+=?\s*+\"?\s*+(?:crypto|ipsec|ike|isakmp)", re.I)


@emits(
    (
        "no_tunnel_for_spi",
        "direct",
        'FortiGate: no tunnel owns the SPI (vpntunnel="N/A"): not a peer',
    ),
    (
        "remote_port_changed",
        "context",
        "the remote port of a peer changed between lines: a new NAT binding",
    ),
    ("odd_remote_port", "context", "ESP from a remote port IKE does not use (not 500/4500)"),
)
def fortigate(paste: Paste) -> list[Signal]:
    """Per peer, from FortiGate's unknown-SPI event: no tunnel owns the SPI; the remote port
    changed between lines (a NAT made a new binding) or is one IKE never uses."""
    signals = []
    seen: dict[str | None, list[tuple[Event, str | None, str | None]]] = defaultdict(list)
    for event in paste.invalid:
        tunnel, port = tunnel_and_port(event)
        if tunnel or port:
            seen[event.peer].append((event, tunnel, port))
    for peer, found in sorted(seen.items(), key=lambda kv: kv[0] or ""):
        who = peer or "an unknown source"
        orphans = [e for e, tunnel, _ in found if tunnel == NO_TUNNEL]
        if orphans:
            signals.append(
                Signal(
                    "no_tunnel_for_spi",
                    f'no tunnel owns the SPIs from {who} (vpntunnel="N/A", {where(orphans)}): '
                    "FortiGate names the tunnel of a configured peer, so this source is not one",
                    peer,
                )
            )
        ports = list(dict.fromkeys(port for _, _, port in found if port))
        if len(ports) >= 2:
            signals.append(
                Signal(
                    "remote_port_changed",
                    f"the remote port of {who} changed ({' -> '.join(ports[:4])}): a NAT in "
                    "front of it made a new binding for the same tunnel",
                    peer,
                )
            )
        odd = [port for port in ports if port not in IKE_PORTS]
        if odd:
            signals.append(
                Signal(
                    "odd_remote_port",
                    f"ESP from {who} came from port {', '.join(odd[:3])}, not the 500/4500 that "
                    "IKE uses: a NAT in front of it, or not an IKE peer at all",
                    peer,
                )
            )
    return signals


@emits(
    ("box_reloaded", "direct", "this box reloaded or restarted shortly before the invalid SPIs"),
    ("box_resources", "direct", "this box ran short of memory, CPU or forwarding capacity"),
)
def box(paste: Paste) -> list[Signal]:
    """This box reloaded (its peers still hold the old SAs), or ran short of memory, CPU or
    forwarding capacity (a crypto process failing is the strongest case)."""
    signals = []
    reloads = paste.by_kind["box_reload"]
    if reloads:
        first = reloads[0]
        before, gap = precedes(first, first_invalid(paste), RELOAD_WINDOW)
        what = f"this box restarted ({first.tag or first.detail}, line {first.line})"
        if before:
            when = f"{duration(gap)} " if gap is not None else ""
            said = (
                f"{what} {when}before the first invalid SPI: it lost every SA while its peers "
                "kept theirs, so they keep sending on SPIs it no longer has"
            )
            signals.append(Signal("box_reloaded", said))
        else:
            said = f"{what}, not shortly before the invalid SPIs"
            signals.append(Signal("box_reloaded", said, strength=0.5))
    found = paste.by_kind["box_resources"]
    problems = [e for e in found if not (e.detail or "").startswith("process ")]
    if problems:
        tags = sorted({(e.tag or "").lstrip("%") for e in problems if e.tag})
        crypto = any(_CRYPTO_PROCESS.search(e.text) for e in found)
        place = " in a crypto process" if crypto else ""
        said = f"this box ran short of resources{place} ({', '.join(tags)}; {where(problems)})"
        signals.append(Signal("box_resources", said, strength=1.0 if crypto else 0.5))
    return signals


@emits(
    (
        "one_sided_clear",
        "direct",
        "SAs cleared on this box only (a command, or a delete never sent)",
    ),
)
def one_sided_clear(paste: Paste) -> list[Signal]:
    """An operator cleared SAs on this box (a command in the paste), or this box deleted an SA
    with no IKE SA to tell the peer on (delete notify for an SPI that then comes back invalid):
    the peer was never told."""
    signals = []
    for event in paste.by_kind["operator_clear"]:
        what = f"`{event.detail}` typed on this box (line {event.line})"
        if event.peer and event.peer not in paste.peers:
            said = f"{what}, for a peer with no invalid SPI in the paste"
            signals.append(Signal("one_sided_clear", said, event.peer, strength=0.3))
            continue
        before, _ = precedes(event, first_invalid(paste, event.peer), RELOAD_WINDOW)
        if before:
            said = f"{what} before the invalid SPIs: the peer was not told and kept its SAs"
            signals.append(Signal("one_sided_clear", said, event.peer))
        else:
            said = f"{what} after the invalid SPIs began: not what started them"
            signals.append(Signal("one_sided_clear", said, event.peer, strength=0.3))
    invalid_spis = {(e.peer, e.spi) for e in paste.invalid if e.spi}
    for event in paste.by_kind["delete_notify_no_sa"]:
        if event.spi and (event.peer, event.spi) in invalid_spis:
            said = (
                f"this box deleted SA {event.spi} of {event.peer} with no IKE SA to tell it on "
                f"(line {event.line}), and the peer kept sending on it"
            )
            signals.append(Signal("one_sided_clear", said, event.peer))
            break
    return signals


@emits(
    (
        "nat_translated_vpn",
        "direct",
        "NAT debug shows traffic between private networks being translated",
    ),
)
def nat_debug(paste: Paste) -> list[Signal]:
    """`debug ip nat` translating traffic between two private networks: traffic that belongs
    in the tunnel is translated first, so it no longer matches the crypto ACL or proxy IDs."""
    translated = []
    for event in paste.by_kind["nat_translation"]:
        addresses = nat_addresses(event)
        if addresses is None:
            continue
        inside, outside, remote = addresses
        if inside != outside and is_private(inside) and is_private(remote):
            translated.append((event, inside, outside, remote))
    if not translated:
        return []
    _, inside, outside, remote = translated[0]
    lines = where([t[0] for t in translated])
    said = (
        f"NAT translated {inside} -> {outside} for traffic to {remote} ({lines}): "
        "traffic between private networks is normally sent through the VPN untranslated, so a "
        "NAT exemption is probably missing"
    )
    return [Signal("nat_translated_vpn", said)]


@emits(
    ("invalid_spi_drops", "symptom", "a drop counter shows a stream of packets on unknown SPIs"),
    ("replay_errors", "direct", "anti-replay failures beside the invalid SPIs"),
    ("replay_drops", "direct", "the SA counters show a hundred or more anti-replay failures"),
)
def drops(paste: Paste) -> list[Signal]:
    """Drop counters: packets on SPIs this box does not have (ASA `show asp drop`, IOS-XE QFP,
    `#pkts invalid sa`), and anti-replay failures (`#pkts replay failed`)."""
    signals = []
    many = [e for e in paste.by_kind["drop_counter"] if counter_value(e) >= MANY_DROPS]
    replay = [e for e in many if (e.detail or "").startswith("replay failed")]
    invalid = [e for e in many if e not in replay]
    # When anti-replay failures outnumber them, the packets on unknown SPIs are most likely
    # late packets of SAs already replaced: the same reordering, not a stream on a stale SA.
    if sum(map(counter_value, invalid)) < sum(map(counter_value, replay)):
        invalid = []
    if invalid:
        said = "; ".join(f"{e.detail} (line {e.line})" for e in invalid[:2])
        signals.append(
            Signal(
                "invalid_spi_drops",
                f"drop counters: {said}: a steady stream of packets on SPIs this box does not "
                "have, not a few at a rekey",
            )
        )
    if replay:
        said = "; ".join(f"{e.detail} (line {e.line})" for e in replay[:2])
        # The counters are anti-replay failures beside the invalid SPIs, like the log lines;
        # their number is the further evidence.
        signals.append(Signal("replay_errors", f"anti-replay failures in the SA counters ({said})"))
        signals.append(
            Signal(
                "replay_drops",
                f"the SA counters show {said}: packets arrive late or out of order, by the "
                "thousands",
            )
        )
    return signals


def pfkey_at_rekey(paste: Paste, pfkey: list[Event]) -> list[Signal]:
    """PFKEY Invalid SPI in the middle of an IKEv2 CREATE_CHILD_SA exchange (a rekey) with the
    same peer: the box reports the SA it is negotiating (CSCwc54984: 'not expected')."""
    rekeys = [e for e in paste.by_kind["ike_packet"] if "CREATE_CHILD_SA" in (e.detail or "")]
    for event in pfkey:
        for rekey in rekeys:
            close, _ = precedes(rekey, event, PFKEY_REKEY_WINDOW)
            if close and rekey.peer in (event.peer, None):
                said = (
                    f"PFKEY Invalid SPI {event.spi or ''} (line {event.line}) in the middle of a "
                    f"CREATE_CHILD_SA exchange (a rekey) with {rekey.peer} (line {rekey.line}): "
                    "the box reported the SA it was negotiating, which Cisco's bug CSCwc54984 "
                    "calls not expected"
                )
                return [Signal("pfkey_invalid_at_rekey", said.replace("SPI  (", "SPI ("))]
    return []


@emits(
    (
        "pfkey_invalid_spi",
        "direct",
        "ASA/FTD 'PFKEY Invalid SPI': unexpected per Cisco's bug notes",
    ),
    (
        "spi_byte_reversed",
        "direct",
        "an SPI reported invalid is this box's own SPI byte-reversed (defect)",
    ),
    (
        "pfkey_invalid_at_rekey",
        "direct",
        "ASA/FTD PFKEY Invalid SPI inside an IKEv2 rekey (CSCwc54984)",
    ),
)
def defect_signatures(paste: Paste) -> list[Signal]:
    """ASA/FTD PFKEY 'Invalid SPI' (Cisco's bug notes CSCwc54984 and CSCvx23833 call it, at a
    rekey the box started, unexpected), and an SPI reported invalid that is one of this box's
    own SPIs byte-reversed (CSCvx23833)."""
    signals = []
    pfkey = [
        e for e in paste.invalid if e.platform in ("asa", "ftd") and "PFKEY" in (e.detail or "")
    ]
    if pfkey:
        spis = ", ".join(sorted({e.spi for e in pfkey if e.spi})) or "an SPI"
        said = (
            f"the ASA/FTD IKEv2 process got 'PFKEY Invalid SPI' for {spis} ({where(pfkey)}): "
            "Cisco's bug notes CSCwc54984 and CSCvx23833 call this unexpected at a rekey"
        )
        signals.append(Signal("pfkey_invalid_spi", said))
        signals.extend(pfkey_at_rekey(paste, pfkey))
    others: dict[str, Event] = {}
    for event in paste.events:
        if event.spi and event.kind != "invalid_spi":
            others.setdefault(event.spi, event)
    for event in paste.invalid:
        if not event.spi:
            continue
        flipped = f"0x{int(event.spi, 16).to_bytes(4, 'big')[::-1].hex().upper()}"
        own = others.get(flipped)
        if own is not None and flipped != event.spi:
            said = (
                f"SPI {event.spi} reported invalid (line {event.line}) is {flipped} (line "
                f"{own.line}) byte-reversed: the box mangled its own SPI, a defect (CSCvx23833), "
                "not a race"
            )
            signals.append(Signal("spi_byte_reversed", said, event.peer))
            break
    return signals


# In this order, after kb/evidence.py's: the order of the reasons in a reply.
RULES = (fortigate, box, one_sided_clear, nat_debug, drops, defect_signatures)
