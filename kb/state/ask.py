"""What to paste next: the commands whose output would confirm the top cause, and where.

Asked when a peer's diagnosis has no proof yet: for what the SAs decide, each end's SA list
(the end whose state is missing); for a policy or lifetime mismatch, each end's crypto
configuration. The peer's platform is not in this box's log, so its command is this
platform family's, and the reason names the other vendors' equivalents.
"""

from __future__ import annotations

from collections.abc import Sequence

from kb.state.confirm import View
from kb.state.findings import Ask, Finding

SA_CAUSES = frozenset({"sa-out-of-sync", "rekey-race", "ha-failover", "nat-traversal"})
CONFIG_CAUSES = frozenset({"lifetime-mismatch", "policy-mismatch"})

_SA_LIST = {
    "ios": "show crypto ipsec sa peer {other}",
    "asa": "show crypto ipsec sa peer {other}",
    "ftd": "show crypto ipsec sa peer {other}",
    "pix": "show crypto ipsec sa",
    "fortigate": "diagnose vpn tunnel list",
    "panos": "show vpn ipsec-sa",
}
_CONFIG = {
    "ios": "show running-config | section crypto",
    "asa": "show running-config crypto",
    "ftd": "show running-config crypto",
    "pix": "show running-config crypto",
    "fortigate": "show vpn ipsec phase2-interface",
}
# What the peer runs if it is another vendor's box: every platform family but this one's.
_ELSEWHERE = {
    "sa": {
        "cisco": "on IOS or an ASA `show crypto ipsec sa peer {other}`",
        "fortigate": "on a FortiGate `diagnose vpn tunnel list`",
        "panos": "on PAN-OS `show vpn ipsec-sa`",
    },
    "config": {
        "cisco": "on IOS `show running-config | section crypto`, on an ASA "
        "`show running-config crypto`",
        "fortigate": "on a FortiGate `show vpn ipsec phase2-interface`",
    },
}
_FAMILY = {"ios": "cisco", "asa": "cisco", "ftd": "cisco", "pix": "cisco"}


def _elsewhere(kind: str, platform: str, other: str) -> str:
    family = _FAMILY.get(platform, platform)
    said = [t.format(other=other) for f, t in _ELSEWHERE[kind].items() if f != family]
    return "; ".join(said)


def ask(
    top: str | None,
    platform: str | None,
    peer: str | None,
    local: str | None,
    device: str | None,
    receiver: Sequence[View],
    sender: Sequence[View],
    findings: Sequence[Finding],
) -> list[Ask]:
    """At most two commands, filled in; none once something is confirmed."""
    if top is None or not peer or any(f.kind == "confirmed" for f in findings):
        return []
    kind = "sa" if top in SA_CAUSES else "config" if top in CONFIG_CAUSES else None
    table = _SA_LIST if kind == "sa" else _CONFIG
    if kind is None or platform not in table:
        return []
    here = f"this box ({', '.join(x for x in (device, local) if x) or 'the one that logged it'})"
    other_of_peer = local or "<this-box-address>"
    if kind == "sa":
        what = "its SAs for this tunnel, to compare with the logged SPI"
    else:
        what = "its crypto configuration, to compare lifetimes, PFS and transforms"
    asks = []
    if not receiver:
        asks.append(Ask(f"on {here}", table[platform].format(other=peer), what))
    if not sender:
        asks.append(
            Ask(
                f"on {peer} (the peer)",
                table[platform].format(other=other_of_peer),
                f"{what} (if it is another vendor: {_elsewhere(kind, platform, other_of_peer)})",
            )
        )
    return asks
