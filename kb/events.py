"""The event record every door and every later stage works on."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache

from kb.stamps import seconds

# The keys of EVENT in docs/contracts.md, in the order printed. Keys may be added, never renamed.
EVENT_KEYS = (
    "kind",
    "platform",
    "tag",
    "peer",
    "local",
    "spi",
    "spi_decimal",
    "spi_consistent",
    "protocol",
    "interface",
    "device",
    "time",
    "line",
)

SPI_MAX = 0xFFFFFFFF
SPI_MAX_DIGITS = len(str(SPI_MAX))  # a decimal SPI with more digits cannot fit in 32 bits
# The longest address as text is 47 characters ("[" IPv6 with a dotted IPv4 tail "]").
ADDRESS_MAX_CHARS = 64
_QUOTED_MAX_CHARS = 24  # a value quoted in a problem note is cut to this


@dataclass(slots=True)
class Event:
    """One recognised line. Built as Event(kind, platform, tag, line, text), the rest by name;
    its fields are in the order of EVENT (docs/contracts.md), so that an encoder writes them
    as to_dict() does."""

    kind: str
    platform: str | None
    tag: str | None
    peer: str | None = field(default=None, kw_only=True)
    local: str | None = field(default=None, kw_only=True)
    spi: str | None = field(default=None, kw_only=True)
    spi_decimal: int | None = field(default=None, kw_only=True)
    spi_consistent: bool | None = field(default=None, kw_only=True)
    protocol: str | None = field(default=None, kw_only=True)
    interface: str | None = field(default=None, kw_only=True)
    device: str | None = field(default=None, kw_only=True)
    time: str | None = field(default=None, kw_only=True)
    line: int
    detail: str | None = field(default=None, kw_only=True)
    problems: list[str] = field(default_factory=list, kw_only=True)
    text: str

    @property
    def seconds(self) -> float | None:
        """When it was logged, comparable only within one paste (the year is often missing)."""
        return seconds(self.time)

    def to_dict(self) -> dict:
        out = {key: getattr(self, key) for key in EVENT_KEYS}
        out["detail"] = self.detail
        out["problems"] = list(self.problems)
        out["text"] = self.text
        return out


_new = object.__new__


def new_event(
    kind: str,
    platform: str | None,
    tag: str | None,
    line: int,
    text: str,
    peer: str | None,
    local: str | None,
    spi: str | None,
    spi_decimal: int | None,
    spi_consistent: bool | None,
    protocol: str | None,
    interface: str | None,
    device: str | None,
    time: str | None,
) -> Event:
    """Event(kind, platform, tag, line, text, peer=..., ..., time=...) without detail or
    problems, from positional arguments: a third of the time of the dataclass's keyword
    arguments, for the scanner's commonest lines (tests/test_recognise.py checks they agree)."""
    event = _new(Event)
    event.kind = kind
    event.platform = platform
    event.tag = tag
    event.peer = peer
    event.local = local
    event.spi = spi
    event.spi_decimal = spi_decimal
    event.spi_consistent = spi_consistent
    event.protocol = protocol
    event.interface = interface
    event.device = device
    event.time = time
    event.line = line
    event.detail = None
    event.problems = []
    event.text = text
    return event


def canonical_ip(text: str) -> str | None:
    """The canonical form of an address (IPv6 compressed), or None if it is not one."""
    # Longer text is no address, and must not become a cache key: the cache keeps its keys.
    if len(text) > ADDRESS_MAX_CHARS:
        return None
    return _canonical_ip(text)


@lru_cache(maxsize=65536)
def _canonical_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def is_private(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # Documentation ranges count as public: the corpus uses them for real Internet peers.
    return ip.is_private and not _is_documentation(ip)


_DOC_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def _is_documentation(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(ip.version == net.version and ip in net for net in _DOC_NETS)


def _quoted(text: str) -> str:
    """A value as a problem note quotes it: whole when short, else its start and its length."""
    if len(text) <= _QUOTED_MAX_CHARS:
        return text
    return f"{text[:_QUOTED_MAX_CHARS]}... ({len(text):,} characters)"


def set_spi(event: Event, hex_text: str | None, decimal_text: str | None = None) -> None:
    """Fill spi, spi_decimal and spi_consistent, recording what does not add up."""
    value = None
    if hex_text is not None:
        digits = hex_text[2:] if hex_text[:2].lower() == "0x" else hex_text
        try:
            # Linear in the digits however many there are: base 16 has no int() digit limit.
            value = int(digits, 16)
        except ValueError:
            event.problems.append(f"SPI '{_quoted(hex_text)}' is not hexadecimal")
        else:
            if value > SPI_MAX:
                event.problems.append(f"SPI {_quoted(hex_text)} does not fit in 32 bits")
                value = None
            else:
                event.spi = f"0x{value:08X}"
    if decimal_text is not None:
        # int() refuses more than 4,300 decimal digits, and is slow well before that.
        if len(decimal_text.lstrip("-").lstrip("0")) > SPI_MAX_DIGITS:
            event.problems.append(f"SPI decimal {_quoted(decimal_text)} does not fit in 32 bits")
            if hex_text is not None:
                event.spi_consistent = False
            return
        decimal = int(decimal_text)
        event.spi_decimal = decimal
        if hex_text is not None and value is not None:
            # Some releases print the decimal as a signed 32-bit number; same SPI either way.
            agrees = -(2**31) <= decimal <= SPI_MAX and decimal & SPI_MAX == value
            event.spi_consistent = agrees
            if not agrees:
                event.problems.append(
                    f"SPI hex {event.spi} and decimal {decimal} disagree: "
                    "the line was edited or corrupted"
                )
        elif hex_text is not None:
            event.spi_consistent = False


PROTOCOLS = {"50": "esp", "51": "ah", "esp": "esp", "ah": "ah"}
