"""What spibot reads from pasted device state: one StateBlock per command output.

Every parser in kb/state/ turns the lines of one command's output into a StateBlock. Each
fact keeps the line that printed it (`Line`), so a confirmed cause can show its proof.
Addresses are canonical (kb.events.canonical_ip), SPIs are ints, and a field a command does
not print is None: never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the input: its 1-based number, and its text with pager artefacts, Slack
    markup and odd spaces undone (leading indentation kept; no spaces around "=")."""

    number: int
    text: str

    def proof(self, host: str | None = None) -> str:
        """The line as shown to prove a fact: "hub: line 12: current outbound spi: ..."."""
        where = f"{host}: " if host else ""
        return f"{where}line {self.number}: {self.text.strip()}"


@dataclass(slots=True)
class Sa:
    """One IPsec SA of a tunnel, one direction."""

    direction: str  # "inbound" | "outbound"
    protocol: str  # "esp" | "ah"
    spi: int
    line: Line  # the line printing the SPI
    transform: str | None = None  # as printed, e.g. "esp-256-aes esp-sha256-hmac"
    mode: str | None = None  # "tunnel" | "transport"
    udp_encaps: bool | None = None  # NAT-T (UDP-Encaps in "in use settings", natt on FortiGate)
    remaining_seconds: int | None = None  # of the key lifetime
    lifetime_seconds: int | None = None  # the lifetime it was installed with, when printed
    status: str | None = None  # ACTIVE, STANDBY, active, ... as printed
    where: dict[str, Line] = field(default_factory=dict)  # field name -> line printing it

    @property
    def spi_hex(self) -> str:
        return f"0x{self.spi:08X}"

    def to_dict(self) -> dict:
        return {
            "direction": self.direction,
            "protocol": self.protocol,
            "spi": self.spi_hex,
            "spi_decimal": self.spi,
            "transform": self.transform,
            "mode": self.mode,
            "udp_encaps": self.udp_encaps,
            "remaining_seconds": self.remaining_seconds,
            "lifetime_seconds": self.lifetime_seconds,
            "status": self.status,
            "line": self.line.number,
        }


@dataclass(slots=True)
class Tunnel:
    """One peer's entry in an SA table or session list: the SAs between `local` and `peer`.

    IOS/ASA `show crypto ipsec sa`: one per `current_peer` section (a crypto map entry or a
    tunnel interface; several per peer when several proxy pairs). FortiGate: one per tunnel
    (`name=`). PAN-OS: one per row. IOS `show crypto session`: one per peer, with `status`.
    """

    peer: str | None
    local: str | None
    line: Line  # the line naming the peer
    name: str | None = None  # interface, crypto map tag, tunnel or phase-2 name
    vrf: str | None = None
    peer_port: int | None = None  # 500, 4500 (NAT-T) or what the NAT made of it
    current_outbound_spi: int | None = None  # what this box sends with now
    pfs: bool | None = None
    dh_group: str | None = None  # as printed: "group14", "none", "14"
    status: str | None = None  # session/tunnel status as printed: UP-ACTIVE, up, ...
    local_ident: str | None = None  # protected network, as printed ("10.1.0.0/255.255.0.0/0/0")
    remote_ident: str | None = None
    sas: list[Sa] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)  # "decaps", "recv_errors", ...
    where: dict[str, Line] = field(default_factory=dict)  # field name -> line printing it
    dpd: bool | None = None  # DPD on for this tunnel, when its own output says (FortiGate `dpd:`)
    # The phase-2 lifetime and what is left of it, when the output prints them for the tunnel
    # rather than per SA (ASA `show vpn-sessiondb detail l2l`: Rekey Int (T) / Rekey Left(T)).
    lifetime_seconds: int | None = None
    remaining_seconds: int | None = None
    # False when the output was cut inside this entry: its SA list may lack SAs it holds.
    complete: bool = True

    def spis(self, direction: str) -> list[int]:
        return [sa.spi for sa in self.sas if sa.direction == direction]

    def to_dict(self) -> dict:
        return {
            "peer": self.peer,
            "local": self.local,
            "name": self.name,
            "vrf": self.vrf,
            "peer_port": self.peer_port,
            "current_outbound_spi": _hex(self.current_outbound_spi),
            "pfs": self.pfs,
            "dh_group": self.dh_group,
            "status": self.status,
            "local_ident": self.local_ident,
            "remote_ident": self.remote_ident,
            "sas": [sa.to_dict() for sa in self.sas],
            "counters": dict(self.counters),
            "line": self.line.number,
            "dpd": self.dpd,
            "lifetime_seconds": self.lifetime_seconds,
            "remaining_seconds": self.remaining_seconds,
            "complete": self.complete,
        }


@dataclass(slots=True)
class IkeSa:
    """One IKE (phase 1) SA row: `show crypto isakmp/ikev1/ikev2 sa`, PAN-OS `show vpn ike-sa`,
    ASA `show vpn-sessiondb l2l`."""

    peer: str | None
    local: str | None
    version: int | None  # 1 or 2
    state: str | None  # as printed: QM_IDLE, MM_NO_STATE, READY, MM_ACTIVE, ...
    line: Line
    vrf: str | None = None
    role: str | None = None  # initiator / responder, when printed
    lifetime_seconds: int | None = None
    remaining_seconds: int | None = None
    where: dict[str, Line] = field(default_factory=dict)
    # IOS `show crypto isakmp sa` prints the SA's two addresses as dst and src (of the exchange
    # that created it) without saying which is this box: then local and peer stay None and
    # these hold the addresses; the reader attributes the row by matching them to the log.
    dst: str | None = None
    src: str | None = None
    status: str | None = None  # a status column besides the state: ACTIVE (deleted), UP-ACTIVE

    @property
    def up(self) -> bool | None:
        """Whether the state is an established one; None when the state is unknown."""
        if self.state is None:
            return None
        return self.state.upper() in _IKE_UP

    def to_dict(self) -> dict:
        return {
            "peer": self.peer,
            "local": self.local,
            "version": self.version,
            "state": self.state,
            "up": self.up,
            "vrf": self.vrf,
            "role": self.role,
            "lifetime_seconds": self.lifetime_seconds,
            "remaining_seconds": self.remaining_seconds,
            "line": self.line.number,
            "dst": self.dst,
            "src": self.src,
            "status": self.status,
        }


# States that mean phase 1 is established, across IOS, ASA, PAN-OS and FortiGate.
_IKE_UP = frozenset(
    {"QM_IDLE", "READY", "MM_ACTIVE", "AM_ACTIVE", "ESTABLISHED", "ACTIVE", "UP", "MATURE"}
)


@dataclass(slots=True)
class Policy:
    """What the configuration says for one peer (or, with `peer` None, every peer)."""

    peer: str | None
    name: str | None = None  # crypto map "NAME SEQ", ikev2 profile, tunnel-group, phase2 name
    transforms: list[str] = field(default_factory=list)  # resolved: "esp-aes 256 esp-sha-hmac"
    pfs: str | None = None  # "group14", ..., or "none" when configured off
    lifetime_seconds: int | None = None  # phase 2
    ike_lifetime_seconds: int | None = None
    dpd: bool | None = None  # DPD / keepalive configured for this peer
    where: dict[str, Line] = field(default_factory=dict)
    acl: str | None = None  # the crypto ACL (`match address`) naming the protected traffic
    # Fields that hold the platform's default because the configuration prints no line for
    # them (ASA: a L2L tunnel-group without `isakmp keepalive` has DPD on); where[field] is
    # then the line of the entry that shows the default applies.
    defaults: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "peer": self.peer,
            "name": self.name,
            "transforms": list(self.transforms),
            "pfs": self.pfs,
            "lifetime_seconds": self.lifetime_seconds,
            "ike_lifetime_seconds": self.ike_lifetime_seconds,
            "dpd": self.dpd,
            "acl": self.acl,
            "defaults": list(self.defaults),
        }


@dataclass(slots=True)
class Config:
    """Configuration facts that decide a cause (IOS `show running-config | section crypto`,
    ASA `show running-config crypto` and `tunnel-group`)."""

    dpd: bool | None = None  # a global keepalive/DPD (IOS `crypto isakmp keepalive`)
    invalid_spi_recovery: bool | None = None
    redundancy: str | None = None  # the HSRP group a crypto map is bound to
    lifetime_seconds: int | None = None  # the global phase-2 lifetime
    policies: list[Policy] = field(default_factory=list)
    where: dict[str, Line] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "dpd": self.dpd,
            "invalid_spi_recovery": self.invalid_spi_recovery,
            "redundancy": self.redundancy,
            "lifetime_seconds": self.lifetime_seconds,
            "policies": [p.to_dict() for p in self.policies],
        }


@dataclass(slots=True)
class Counter:
    name: str  # as printed: "Invalid SPI"
    value: int
    line: Line


@dataclass(slots=True)
class StateBlock:
    """One command's output, and the box that printed it."""

    command: str  # canonical words: "show crypto ipsec sa"
    platform: str | None  # ios, asa, ftd, fortigate, panos; None when the output cannot tell
    first_line: int
    last_line: int
    host: str | None = None  # from the prompt, when there was one
    typed: str | None = None  # the command as typed at the prompt ("sh cry ips sa peer X")
    tunnels: list[Tunnel] = field(default_factory=list)
    ike: list[IkeSa] = field(default_factory=list)
    counters: list[Counter] = field(default_factory=list)
    config: Config | None = None
    problems: list[str] = field(default_factory=list)  # what could not be read, in words
    # What a parser leaves for a join across the paste's outputs (FortiGate phase 2s whose
    # phase 1 is in another output: kb/state/config.py join_fortigate); never shown.
    leftovers: object | None = field(default=None, repr=False, compare=False)

    @property
    def parsed(self) -> bool:
        """Whether anything was read from it."""
        return bool(self.tunnels or self.ike or self.counters or self.config)

    @property
    def boxes(self) -> list[str]:
        """The local addresses this output names: the box (or boxes) that printed it."""
        found = [t.local for t in self.tunnels] + [i.local for i in self.ike]
        return sorted({a for a in found if a})

    def to_dict(self) -> dict:
        return {
            "command": self.command,
            "platform": self.platform,
            "host": self.host,
            "typed": self.typed,
            "boxes": self.boxes,
            "lines": [self.first_line, self.last_line],
            "parsed": self.parsed,
            "problems": list(self.problems),
            "tunnels": [t.to_dict() for t in self.tunnels],
            "ike": [i.to_dict() for i in self.ike],
            "counters": [
                {"name": c.name, "value": c.value, "line": c.line.number} for c in self.counters
            ],
            "config": self.config.to_dict() if self.config else None,
        }


def _hex(spi: int | None) -> str | None:
    return None if spi is None else f"0x{spi:08X}"
