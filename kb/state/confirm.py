"""Cross-check the log with the device state pasted beside it: what is proven, and by which lines.

The SPI in an invalid-SPI line is the SENDER's outbound SPI (it is the ESP header the receiver
could not match). So for each logged group (receiver L, the box that logged it; sender P, the
logged peer; SPI S):

- the receiver's view of the tunnel is a state entry naming peer P (its local address L, or
  its prompt the logging hostname); the sender's view is an entry naming peer L whose own
  address is not L (behind NAT the sender's address may be private);
- receiver lacks S inbound and the sender sends with S: the sender holds a stale SA
  (sa-out-of-sync, clear on the sender); the sender sends with a newer SPI the receiver holds:
  the tunnel re-keyed and S was the old SA (rekey-race); the receiver holds S inbound with
  seconds to live beside a newer SA: the same; both hold S: the ESP reached a box that does not
  own the SA when the state comes from another hostname (ha-failover), else the state
  contradicts the log, which is said, not hidden;
- between the two ends: PFS or DH group or transforms (same platform only: spellings differ
  across vendors), lifetimes, NAT-T encapsulation or ports that differ confirm
  policy-mismatch, lifetime-mismatch or nat-traversal with both values; no DPD on the sender
  is the prevention line.

Every finding quotes its lines ("host: line N: text"). Pure: no store, no Slack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kb.confidence import CANT_TELL, CONFIRMED, POSSIBLE, UNLIKELY, assess
from kb.events import canonical_ip, is_private
from kb.groups import Group
from kb.model import MODEL
from kb.ranking import Cause
from kb.state.findings import Finding
from kb.state.model import Config, Line, Policy, Sa, StateBlock, Tunnel

_S = MODEL["state"]  # the numbers and what they mean: kb/model.yaml
REKEY_SECONDS, REPEATS, REPEAT_SECONDS = _S["rekey_seconds"], _S["repeats"], _S["repeat_seconds"]
SUPPORTS, CONTRADICTS = _S["supports"], _S["contradicts"]
MAX_PROOF = 8
# Outputs that list every SA of each tunnel they show: an entry there without SAs has none.
SA_LISTS = frozenset(
    {"show crypto ipsec sa", "diagnose vpn tunnel list", "show vpn ipsec-sa", "show vpn flow"}
)
# The order in which confirmed causes are shown: a stale SA or HA first (act on it now); then
# a mismatch, which explains why rekeys fail or race; a rekey race alone is last (harmless).
CONFIRMED_ORDER = (
    "sa-out-of-sync",
    "ha-failover",
    "lifetime-mismatch",
    "policy-mismatch",
    "nat-traversal",
    "rekey-race",
)


@dataclass(slots=True)
class View:
    """One box's entry for the logged tunnel, and the output it came from."""

    tunnel: Tunnel
    block: StateBlock

    @property
    def box(self) -> str:
        return self.block.host or self.tunnel.local or "this output"

    def proof(self, line: Line | None) -> str | None:
        return line.proof(self.box) if line is not None else None

    def inbound(self, spi: int) -> Sa | None:
        return next((s for s in self.tunnel.sas if s.direction == "inbound" and s.spi == spi), None)

    def sends_with(self) -> tuple[int, Line] | None:
        """The SPI this box sends with now, and the line saying so."""
        t = self.tunnel
        if t.current_outbound_spi is not None:
            return t.current_outbound_spi, t.where.get("current_outbound_spi", t.line)
        outbound = [s for s in t.sas if s.direction == "outbound" and s.protocol == "esp"]
        if len(outbound) == 1:
            return outbound[0].spi, outbound[0].line
        return None

    def outbound(self, spi: int) -> Sa | None:
        return next(
            (s for s in self.tunnel.sas if s.direction == "outbound" and s.spi == spi), None
        )

    @property
    def knows_all(self) -> bool:
        """Whether a missing SA is missing: the entry lists its SAs and was not cut short."""
        return self.has_sas and self.tunnel.complete

    @property
    def has_sas(self) -> bool:
        """Whether this entry tells which SAs the box holds: it lists some, or it comes from
        an output that lists every SA of a tunnel (so an entry with none holds none)."""
        t = self.tunnel
        return bool(t.sas) or t.current_outbound_spi is not None or self.block.command in SA_LISTS


def _same_host(a: str | None, b: str | None) -> bool | None:
    """Whether two hostnames name one box (domain and case aside); None when one is unknown
    or is an address (a collector often writes the sender's address as the log's host)."""
    if not a or not b or canonical_ip(a) or canonical_ip(b):
        return None
    return a.split(".")[0].lower() == b.split(".")[0].lower()


def views(group: Group, blocks: Sequence[StateBlock]) -> tuple[list[View], list[View]]:
    """(the receiver's views, the sender's views) of the group's tunnel.

    The receiver's entry names the sender P as its peer and has the logging box's address L
    (or prints none, and its prompt names the logging device, or another entry of the same
    output has L). The sender's entry names L as its peer and has P's address, none, or a
    private one while P is public (the sender behind NAT). A hub's entries for its other
    peers, and a third box's, are neither. Without L, no entry is taken for the sender's.
    """
    receiver, sender = [], []
    peer, local = group.peer, group.local
    for block in blocks:
        for tunnel in block.tunnels:
            if peer and tunnel.peer == peer:
                unknown = tunnel.local is None or local is None
                vouched = _same_host(block.host, group.device) or (local and local in block.boxes)
                if (local and tunnel.local == local) or (unknown and vouched):
                    receiver.append(View(tunnel, block))
            elif local and tunnel.peer == local and tunnel.local != local:
                own = tunnel.local
                if own in (peer, None) or (is_private(own) and not is_private(peer)):
                    sender.append(View(tunnel, block))
    return receiver, sender


def _spi(group: Group) -> int | None:
    try:
        return int(group.spi, 16) if group.spi else None
    except ValueError:
        return None


def _hex(spi: int) -> str:
    return f"0x{spi:08X}"


def _repeats(group: Group) -> bool:
    span = group.span_seconds
    return group.count >= REPEATS or (span is not None and span >= REPEAT_SECONDS)


def _proofs(*lines: str | None) -> list[str]:
    return list(dict.fromkeys(x for x in lines if x))[:MAX_PROOF]


def _inbound_lines(views: Iterable[View], limit: int = 3) -> list[str | None]:
    return [v.proof(s.line) for v in views for s in v.tunnel.sas if s.direction == "inbound"][
        :limit
    ]


def _spi_findings(group: Group, receiver: list[View], sender: list[View]) -> list[Finding]:
    """What the two ends' SAs say about the logged SPI."""
    spi = _spi(group)
    if spi is None:
        return []
    peer, local = group.peer, group.local or "this box"
    s_hex = _hex(spi)
    held = [(v, sa) for v in receiver for sa in [v.inbound(spi)] if sa is not None]
    rx = [v for v in receiver if v.knows_all]  # what it lacks, it lacks
    tx = [v for v in sender if v.has_sas]
    sends = [(v, now) for v in tx for now in [v.sends_with()] if now is not None]
    stale = [(v, line) for v, (out, line) in sends if out == spi]
    stale += [(v, sa.line) for v in tx for sa in [v.outbound(spi)] if sa is not None]
    found: list[Finding] = []
    about = {"peer": peer}
    if held:
        found += _held(group, held, stale, spi)
    elif rx and stale:
        v, line = stale[0]
        found.append(
            Finding(
                "confirmed",
                f"{peer} still sends with SPI {s_hex} (its current outbound SPI) and {local} "
                f"has no inbound SA with it: {peer} holds a stale SA. Clear it on {peer}; "
                f"clearing on {local} does not help.",
                "sa-out-of-sync",
                proof=_proofs(v.proof(line), rx[0].proof(rx[0].tunnel.line), *_inbound_lines(rx)),
                **about,
            )
        )
    elif stale:
        v, line = stale[0]
        repeated = _repeats(group)
        found.append(
            Finding(
                "confirmed" if repeated else "supports",
                f"{peer} sends with SPI {s_hex}, which {local} rejected {group.count} time(s): "
                + (
                    f"{peer} holds a stale SA. Clear it on {peer}."
                    if repeated
                    else f"if it keeps rejecting it for more than a minute, {peer} holds a "
                    f"stale SA (clear it on {peer}); once or twice is a rekey race."
                ),
                "sa-out-of-sync",
                proof=_proofs(v.proof(line)),
                **about,
            )
        )
    elif rx and sends:
        v, (now, line) = sends[0]
        newer = [(r, sa) for r in rx for sa in [r.inbound(now)] if sa is not None]
        if newer and _repeats(group):
            r, sa = newer[0]
            found.append(
                Finding(
                    "supports",
                    f"Both ends are in step again ({peer} sends with {_hex(now)}, which {local} "
                    f"holds), but {local} rejected {s_hex} {group.count} times: a rekey race "
                    f"does not repeat; {peer} held a stale SA that has since been replaced.",
                    "sa-out-of-sync",
                    proof=_proofs(v.proof(line), r.proof(sa.line)),
                    **about,
                )
            )
        elif newer:
            r, sa = newer[0]
            found.append(
                Finding(
                    "confirmed",
                    f"Both ends are in step again: {peer} now sends with SPI {_hex(now)}, which "
                    f"{local} holds; {s_hex} was the SA before a rekey. Harmless unless it "
                    "repeats.",
                    "rekey-race",
                    proof=_proofs(v.proof(line), r.proof(sa.line)),
                    **about,
                )
            )
        else:
            found.append(
                Finding(
                    "confirmed",
                    f"{peer} now sends with SPI {_hex(now)}, and {local} has no inbound SA with "
                    f"that one either: {peer} holds a stale SA. Clear it on {peer}.",
                    "sa-out-of-sync",
                    proof=_proofs(v.proof(line), *_inbound_lines(rx)),
                    **about,
                )
            )
    elif rx:
        # What every invalid-SPI line already says: on its own it speaks for no cause (a rekey
        # race and a stale SA both leave the receiver without S).
        found.append(
            Finding(
                "note",
                f"{local} has no inbound SA with SPI {s_hex} for {peer}, as the log says; "
                f"{peer}'s SAs would tell whether it still sends with it.",
                None,
                peer,
                _proofs(rx[0].proof(rx[0].tunnel.line), *_inbound_lines(rx)),
            )
        )
    return found


def _held(
    group: Group, held: list[tuple[View, Sa]], stale: list[tuple[View, Line]], spi: int
) -> list[Finding]:
    """The receiver's state holds the logged SPI inbound."""
    peer, local, s_hex = group.peer, group.local or "this box", _hex(spi)
    view, sa = held[0]
    newer = [
        s
        for s in view.tunnel.sas
        if s.direction == "inbound" and s.spi != spi and (s.remaining_seconds or 0) > REKEY_SECONDS
    ]
    if sa.remaining_seconds is not None and sa.remaining_seconds <= REKEY_SECONDS and newer:
        remaining = sa.where.get("remaining_seconds", sa.line)
        return [
            Finding(
                "supports" if _repeats(group) else "confirmed",
                f"{local}'s inbound SA {s_hex} from {peer} has {sa.remaining_seconds} s left and a "
                f"newer SA ({_hex(newer[0].spi)}) is in place: a rekey was under way. Harmless "
                "unless it repeats.",
                "rekey-race",
                group.peer,
                _proofs(view.proof(sa.line), view.proof(remaining), view.proof(newer[0].line)),
            )
        ]
    proof = _proofs(view.proof(sa.line), *(v.proof(line) for v, line in stale))
    other_box = _same_host(view.block.host, group.device) is False
    if other_box:
        # Proof needs the other box to own the logging box's address; a box that prints no
        # address of its own only speaks for it.
        same_address = group.local is not None and view.tunnel.local == group.local
        return [
            Finding(
                "confirmed" if same_address else "supports",
                f"{view.block.host} holds SPI {s_hex} from {peer} as an active inbound SA, but "
                f"{group.device} logged it as invalid: the ESP reaches a box that does not own "
                "the SA (HA pair, asymmetric path, ECMP or a load balancer).",
                "ha-failover",
                peer,
                proof,
            )
        ]
    both = f", and {peer} sends with it" if stale else ""
    found = [
        Finding(
            "contradiction",
            f"{local} holds SPI {s_hex} from {peer} as an inbound SA: the SPI is not stale.",
            "sa-out-of-sync",
            peer,
            proof,
        ),
        Finding(
            "contradiction",
            f"The state shows SPI {s_hex} as an active inbound SA on {local}{both}, yet {local} "
            "logged it as invalid: the output came from another box with the same address (HA "
            "pair, cluster), or was taken after the SA was re-created with the same SPI.",
            None,
            peer,
            proof,
        ),
    ]
    if _repeats(group):
        found.append(
            Finding(
                "supports",
                f"Both ends hold SPI {s_hex} while {local} keeps rejecting it: the ESP may be "
                "reaching a box that does not own the SA.",
                "ha-failover",
                peer,
                proof,
            )
        )
    return found


def _pairs(receiver: list[View], sender: list[View]) -> list[tuple[View, View]]:
    return [(r, s) for r in receiver for s in sender if r.has_sas and s.has_sas][:4]


def _differs(what: str, cause: str, peer: str | None, a: tuple, b: tuple) -> Finding:
    """A finding that the two ends differ: a and b are (box, value, proof line)."""
    return Finding(
        "confirmed",
        f"The two ends differ in {what}: {a[0]} has {a[1]}, {b[0]} has {b[1]}.",
        cause,
        peer,
        _proofs(a[2], b[2]),
    )


def _sa_policy_findings(group: Group, receiver: list[View], sender: list[View]) -> list[Finding]:
    found: list[Finding] = []
    peer = group.peer
    for r, s in _pairs(receiver, sender):
        rt, st = r.tunnel, s.tunnel
        if rt.pfs is not None and st.pfs is not None and rt.pfs != st.pfs:
            found.append(
                _differs(
                    "PFS",
                    "policy-mismatch",
                    peer,
                    (r.box, "PFS on" if rt.pfs else "no PFS", r.proof(rt.where.get("pfs"))),
                    (s.box, "PFS on" if st.pfs else "no PFS", s.proof(st.where.get("pfs"))),
                )
            )
        elif (
            rt.pfs
            and st.pfs
            and rt.dh_group
            and st.dh_group
            and _pfs_differ(rt.dh_group, st.dh_group)
        ):
            found.append(
                _differs(
                    "DH group",
                    "policy-mismatch",
                    peer,
                    (r.box, rt.dh_group, r.proof(rt.where.get("dh_group", rt.where.get("pfs")))),
                    (s.box, st.dh_group, s.proof(st.where.get("dh_group", st.where.get("pfs")))),
                )
            )
        ra, sa = _first_sa(rt), _first_sa(st)
        same_family = r.block.platform == s.block.platform
        transforms = same_family and ra and sa and ra.transform and sa.transform
        if transforms and _norm(ra.transform) != _norm(sa.transform):
            found.append(
                _differs(
                    "transforms",
                    "policy-mismatch",
                    peer,
                    (r.box, ra.transform, r.proof(ra.where.get("transform", ra.line))),
                    (s.box, sa.transform, s.proof(sa.where.get("transform", sa.line))),
                )
            )
        found += _nat_findings(peer, r, s)
        lifetimes = ra and sa and ra.lifetime_seconds and sa.lifetime_seconds
        if lifetimes and ra.lifetime_seconds != sa.lifetime_seconds:
            found.append(
                _differs(
                    "SA lifetime",
                    "lifetime-mismatch",
                    peer,
                    (r.box, f"{ra.lifetime_seconds} s", r.proof(_lifeline(ra))),
                    (s.box, f"{sa.lifetime_seconds} s", s.proof(_lifeline(sa))),
                )
            )
    return found


def _lifeline(sa: Sa) -> Line:
    return sa.where.get("lifetime_seconds", sa.where.get("remaining_seconds", sa.line))


def _nat_findings(peer: str | None, r: View, s: View) -> list[Finding]:
    encaps = []
    for v in (r, s):
        flags = [sa.udp_encaps for sa in v.tunnel.sas if sa.udp_encaps is not None]
        encaps.append(any(flags) if flags else None)
    if None not in encaps and encaps[0] != encaps[1]:
        on, off = (r, s) if encaps[0] else (s, r)
        line_on = next(
            (sa.where.get("udp_encaps", sa.line) for sa in on.tunnel.sas if sa.udp_encaps), None
        )
        line_off = next(
            (sa.where.get("udp_encaps", sa.line) for sa in off.tunnel.sas), off.tunnel.line
        )
        return [
            Finding(
                "confirmed",
                f"NAT-T on one end only: {on.box} encapsulates ESP in UDP (NAT-T), {off.box} does "
                "not.",
                "nat-traversal",
                peer,
                _proofs(on.proof(line_on), off.proof(line_off)),
            )
        ]
    ports = (r.tunnel.peer_port, s.tunnel.peer_port)
    # 500 against 4500: one end floated to NAT-T, the other did not. Any other port is a NAT
    # translating 4500, normal when both ends encapsulate.
    if set(ports) == {500, 4500} and encaps != [True, True]:
        return [
            _differs(
                "IKE/NAT-T port",
                "nat-traversal",
                peer,
                (r.box, f"peer port {ports[0]}", r.proof(r.tunnel.where.get("peer_port"))),
                (s.box, f"peer port {ports[1]}", s.proof(s.tunnel.where.get("peer_port"))),
            )
        ]
    return []


def _first_sa(tunnel: Tunnel) -> Sa | None:
    return next((s for s in tunnel.sas if s.direction == "inbound"), None) or next(
        iter(tunnel.sas), None
    )


def _norm(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").split())


# Configuration: whose is it, and what does it say for the other end?


@dataclass(slots=True)
class _Side:
    box: str
    block: StateBlock
    config: Config
    policy: Policy | None  # its policy for the other end

    def proof(self, key: str) -> str | None:
        line = (self.policy.where.get(key) if self.policy else None) or self.config.where.get(key)
        return line.proof(self.box) if line else None

    @property
    def lifetime(self) -> int | None:
        own = self.policy.lifetime_seconds if self.policy else None
        return own if own is not None else self.config.lifetime_seconds

    @property
    def dpd(self) -> bool | None:
        own = self.policy.dpd if self.policy else None
        return own if own is not None else self.config.dpd


def _config_sides(group: Group, blocks: Sequence[StateBlock]) -> tuple[_Side | None, _Side | None]:
    """(the receiver's configuration, the sender's), each with its policy for the other end."""
    receiver = sender = None
    for block in blocks:
        config = block.config
        if config is None:
            continue
        toward_peer = next((p for p in config.policies if p.peer == group.peer), None)
        toward_local = next(
            (p for p in config.policies if group.local and p.peer == group.local), None
        )
        if toward_peer and receiver is None:
            receiver = _Side(block.host or group.local or "this box", block, config, toward_peer)
        elif toward_local and sender is None:
            sender = _Side(block.host or group.peer or "the peer", block, config, toward_local)
        elif receiver is None and _same_host(block.host, group.device):
            receiver = _Side(block.host or "this box", block, config, None)
    return receiver, sender


# Platforms whose phase 2 has no PFS unless configured (a FortiGate's has it by default).
PFS_OFF_BY_DEFAULT = frozenset({"ios", "asa", "ftd", "pix"})


def _pfs(side: _Side) -> str | None:
    """The PFS the side's policy asks for; on a platform whose default is none, an entry read
    whole (its transforms known) without a `set pfs` asks for none."""
    policy = side.policy
    if policy is None:
        return None
    if policy.pfs:
        return policy.pfs
    off = side.block.platform in PFS_OFF_BY_DEFAULT
    return "none" if policy.transforms and off else None


def _groups(pfs: str) -> frozenset[str]:
    """DH groups as a set of numbers ("group14 group5" -> {"14", "5"}); "none" stays."""
    words = pfs.lower().replace(",", " ").split()
    return frozenset(w.removeprefix("group") for w in words if w not in ("enabled", "enable"))


def _pfs_differ(a: str, b: str) -> bool:
    """Whether two PFS settings cannot agree: one none and the other not, or groups that share
    none ("enabled" without a group agrees with any group)."""
    ga, gb = _groups(a), _groups(b)
    if ("none" in ga) != ("none" in gb):
        return True
    return bool(ga and gb) and ga.isdisjoint(gb)


def _config_findings(group: Group, blocks: Sequence[StateBlock]) -> list[Finding]:
    receiver, sender = _config_sides(group, blocks)
    found: list[Finding] = []
    peer = group.peer
    if receiver and sender:
        a, b = receiver.lifetime, sender.lifetime
        if a is not None and b is not None and a != b:
            found.append(
                _differs(
                    "phase-2 lifetime",
                    "lifetime-mismatch",
                    peer,
                    (receiver.box, f"{a} s", receiver.proof("lifetime_seconds")),
                    (sender.box, f"{b} s", sender.proof("lifetime_seconds")),
                )
            )
        rp, sp = receiver.policy, sender.policy
        rpfs, spfs = _pfs(receiver), _pfs(sender)
        if rpfs and spfs and _pfs_differ(rpfs, spfs):
            found.append(
                _differs(
                    "PFS",
                    "policy-mismatch",
                    peer,
                    (
                        receiver.box,
                        f"PFS {rpfs}",
                        receiver.proof("pfs") or receiver.proof("transforms"),
                    ),
                    (sender.box, f"PFS {spfs}", sender.proof("pfs") or sender.proof("transforms")),
                )
            )
        same = receiver.block.platform == sender.block.platform
        both = same and rp and sp and rp.transforms and sp.transforms
        if both and {_norm(t) for t in rp.transforms}.isdisjoint(map(_norm, sp.transforms)):
            found.append(
                _differs(
                    "transforms",
                    "policy-mismatch",
                    peer,
                    (receiver.box, " / ".join(rp.transforms), receiver.proof("transforms")),
                    (sender.box, " / ".join(sp.transforms), sender.proof("transforms")),
                )
            )
    if sender and sender.dpd is False:
        line = sender.proof("dpd")
        found.append(
            Finding(
                "prevention",
                f"{sender.box} has no DPD or keepalive toward {group.local or 'this box'}: with "
                "it, a peer that lost its SAs is noticed within seconds and the tunnel re-keyed. "
                f"Configure DPD on {sender.box}.",
                "sa-out-of-sync",
                peer,
                _proofs(line) if line else [],
            )
        )
    return found


def _dpd_findings(group: Group, sender: list[View]) -> list[Finding]:
    """A sender whose tunnel runs without DPD (FortiGate `dpd: mode=off`)."""
    for view in sender:
        if view.tunnel.dpd is False:
            return [
                Finding(
                    "prevention",
                    f"{view.box} runs this tunnel without DPD: with it, a peer that lost its SAs "
                    f"is noticed within seconds and the tunnel re-keyed. Turn DPD on at "
                    f"{view.box}.",
                    "sa-out-of-sync",
                    group.peer,
                    _proofs(view.proof(view.tunnel.where.get("dpd"))),
                )
            ]
    return []


def _ike_findings(group: Group, receiver: list[View]) -> list[Finding]:
    """A receiver whose IPsec SAs outlived its IKE SA (IOS UP-NO-IKE)."""
    for view in receiver:
        status = (view.tunnel.status or "").upper()
        if status == "UP-NO-IKE":
            return [
                Finding(
                    "supports",
                    f"{view.box} has IPsec SAs toward {group.peer} but no IKE SA (UP-NO-IKE): "
                    "the two ends no longer agree on the tunnel.",
                    "sa-out-of-sync",
                    group.peer,
                    _proofs(view.proof(view.tunnel.where.get("status", view.tunnel.line))),
                )
            ]
    return []


def confirm(groups: Sequence[Group], blocks: Sequence[StateBlock]) -> list[Finding]:
    """Findings for one peer's groups (busiest first), strongest first, each once."""
    found: list[Finding] = []
    for group in sorted(groups, key=lambda g: -g.count):
        receiver, sender = views(group, blocks)
        found += _spi_findings(group, receiver, sender)
        found += _sa_policy_findings(group, receiver, sender)
        found += _config_findings(group, blocks)
        found += _ike_findings(group, receiver)
        found += _dpd_findings(group, sender)
    return _once(found)


def _once(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple] = set()
    out = []
    order = {k: i for i, k in enumerate(("confirmed", "contradiction", "supports", "prevention"))}
    for f in sorted(findings, key=lambda f: order.get(f.kind, 9)):
        key = (f.kind, f.cause, f.text)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def state_notes(blocks: Sequence[StateBlock], groups: Sequence[Group]) -> list[Finding]:
    """What the paste's state could not tell: outputs not read, and outputs from a box that is
    neither end of any logged tunnel; plus counters worth knowing (ASA invalid-SPI drops)."""
    notes: list[Finding] = []
    ends = {a for g in groups for a in (g.peer, g.local) if a}
    taken = {id(v.tunnel) for g in groups for side in views(g, blocks) for v in side}
    for block in blocks:
        where = f"lines {block.first_line}-{block.last_line}" + (
            f" ({block.host})" if block.host else ""
        )
        if not block.parsed:
            why = block.problems[0] if block.problems else "nothing could be read"
            notes.append(Finding("note", f"Not read: `{block.command}` at {where}: {why}."))
            continue
        if block.problems:
            more = f" (and {len(block.problems) - 2} more)" if len(block.problems) > 2 else ""
            notes.append(
                Finding(
                    "note",
                    f"Partly read: `{block.command}` at {where}: "
                    + "; ".join(block.problems[:2])
                    + more
                    + ".",
                )
            )
        named = {a for t in block.tunnels for a in (t.peer, t.local) if a}
        named |= {a for i in block.ike for a in (i.peer, i.local) if a}
        # A tunnel list counts when one of its entries was taken for either end; a box that
        # only has a tunnel to one of them (a third site) is neither.
        neither = not any(id(t) in taken for t in block.tunnels) if block.tunnels else True
        if groups and named and neither and (block.tunnels or not named & ends):
            peers = sorted({t.peer for t in block.tunnels if t.peer})[:3] or sorted(named)[:3]
            notes.append(
                Finding(
                    "note",
                    f"`{block.command}` at {where} is from a box that is neither end of the "
                    f"logged tunnel(s): it names {', '.join(peers)}.",
                )
            )
        for counter in block.counters:
            if "invalid spi" in counter.name.lower() and counter.value > 0:
                notes.append(
                    Finding(
                        "note",
                        f"{block.host or 'The firewall'} counted {counter.value:,} packets dropped "
                        f"for an invalid SPI ({counter.name}).",
                        proof=[counter.line.proof(block.host)],
                    )
                )
    return notes


def apply(causes: list[Cause], findings: Sequence[Finding]) -> None:
    """Confirmed causes first (CONFIRMED_ORDER), with confidence "confirmed" and their proof;
    a cause the state speaks for gains SUPPORTS points, one it rules out loses CONTRADICTS,
    and the rest are ranked and assessed again; every finding joins its cause's reasons."""
    by_id = {c.id: c for c in causes}
    confirmed: list[Cause] = []
    moved = False
    for finding in findings:
        cause = by_id.get(finding.cause or "")
        if cause is None:
            continue
        cause.reasons.insert(0, f"{_LABELS.get(finding.kind, 'Device state')}: {finding.text}")
        points = {"supports": SUPPORTS, "contradiction": CONTRADICTS}.get(finding.kind)
        if points is not None:
            cause.score += points
            cause.points.append((f"state:{finding.kind}", points))
            moved = True
        if finding.kind == "confirmed":
            cause.proof.extend(p for p in finding.proof if p not in cause.proof)
            if cause not in confirmed:
                confirmed.append(cause)
    rest = [c for c in causes if c not in confirmed]
    if moved:
        rest.sort(key=lambda c: -c.score)
        assess(rest)
    if confirmed:
        confirmed.sort(key=lambda c: CONFIRMED_ORDER.index(c.id) if c.id in CONFIRMED_ORDER else 99)
        for cause in confirmed:
            cause.confidence = CONFIRMED
        for cause in rest:
            if cause.confidence not in (UNLIKELY, CANT_TELL):
                cause.confidence = POSSIBLE
    causes[:] = confirmed + rest


_LABELS = {
    "confirmed": "Confirmed from device state",
    "supports": "Device state supports it",
    "contradiction": "Device state contradicts the log",
    "prevention": "Prevention, from device state",
}
