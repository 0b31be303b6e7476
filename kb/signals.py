"""The evidence signals a paste or its history can show; articles weigh them by name."""

from __future__ import annotations

from dataclasses import dataclass

SIGNALS: dict[str, str] = {
    "single_event": "one invalid-SPI line for a peer and SPI, then silence",
    "repeating_spi": "the same SPI from the same peer repeating over a minute or more",
    "long_outage": "the same SPI repeating for five minutes or more: nothing re-keyed it",
    "many_spis_per_peer": "three or more different SPIs from one peer",
    "many_peers_one_spi": "one SPI from three or more different sources",
    "many_peers": "invalid SPIs from five or more sources",
    "ike_no_sa": "IKMP_NO_SA from a peer: it holds an IKE SA this box does not",
    "delete_notify_no_sa": "no IKE SA to send a delete notify on",
    "ha_failover": "an HSRP/VRRP/ASA failover before the invalid SPIs",
    "replay_errors": "anti-replay failures beside the invalid SPIs",
    "replay_seq_zero": "anti-replay failure with sequence number 0",
    "mac_errors": "integrity (MAC) failures beside the invalid SPIs",
    "policy_mismatch": "proxy-ID/policy mismatch or clear text where ESP was expected",
    "acl_deny_ike": "an ACL denied IKE (UDP 500/4500) or ESP",
    "nat_t": "the peer is behind NAT or uses UDP 4500",
    "ah_protocol": "the packets are AH, which cannot cross NAT",
    "ike_invalid_spi_notify": "an IKEv2 INVALID_SPI notify (at a rekey: a race)",
    "tunnel_flap": "the tunnel went down or flapped",
    "recurring_peer": "this peer had three or more incidents in 30 days",
    "no_tunnel_for_spi": 'FortiGate: no tunnel owns the SPI (vpntunnel="N/A"): not a peer',
    "remote_port_changed": "the remote port of a peer changed between lines: a new NAT binding",
    "odd_remote_port": "ESP from a remote port IKE does not use (not 500/4500)",
    "box_reloaded": "this box reloaded or restarted shortly before the invalid SPIs",
    "box_resources": "this box ran short of memory, CPU or forwarding capacity",
    "one_sided_clear": "SAs cleared on this box only (a command, or a delete never sent)",
    "nat_translated_vpn": "NAT debug shows traffic between private networks being translated",
    "invalid_spi_drops": "a drop counter shows a stream of packets on unknown SPIs",
    "replay_drops": "the SA counters show a hundred or more anti-replay failures",
    "pfkey_invalid_spi": "ASA/FTD 'PFKEY Invalid SPI': unexpected per Cisco's bug notes",
    "pfkey_invalid_at_rekey": "ASA/FTD PFKEY Invalid SPI inside an IKEv2 rekey (CSCwc54984)",
    "spi_byte_reversed": "an SPI reported invalid is this box's own SPI byte-reversed (defect)",
}


@dataclass(frozen=True)
class Signal:
    """One observation, phrased for the engineer, with the peer it concerns."""

    name: str
    detail: str
    peer: str | None = None
    strength: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in SIGNALS:
            raise ValueError(f"unknown signal {self.name!r}")
