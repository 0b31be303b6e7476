"""Small readers shared by the Cisco state parsers (kb/state/ike.py, asa_session.py, asp_drop.py).

ASA prints `Label : value` pairs, often two on one line (`Rekey Int (T): 28800 Seconds
Rekey Left(T): 28622 Seconds`); IKE tables print `address/port` tokens and SPIs as `0x` hex of
any width (`0xdd3fc4c`). Everything here is a literal search then a bounded read: no regex, so
nothing can backtrack however long or odd the line.
"""

from __future__ import annotations

from kb.events import canonical_ip

SPI_MAX = 0xFFFFFFFF


def field(text: str, label: str, one_word: bool = False) -> str | None:
    """The value after `label` (then optional spaces, then ":"), or None when the line has no
    such label. The label must start the line or follow a space, so "State" is not found in
    "MM_NO_STATE". A value ends at two spaces (the next column) or the end of the line; with
    `one_word`, at the first space (for values a paste may have had its column gaps squeezed
    out of)."""
    start = 0
    size = len(text)
    while True:
        at = text.find(label, start)
        if at < 0:
            return None
        end = at + len(label)
        if at == 0 or text[at - 1] == " ":
            k = end
            while k < size and text[k] == " ":
                k += 1
            if k < size and text[k] == ":":
                k += 1
                while k < size and text[k] == " ":
                    k += 1
                stop = text.find(" " if one_word else "  ", k)
                return text[k : size if stop < 0 else stop].strip()
        start = end


def address_port(token: str) -> tuple[str | None, int | None]:
    """`198.51.100.7/4500` -> ("198.51.100.7", 4500); a bare address has port None; what is not
    an address gives (None, None)."""
    host, slash, port = token.rpartition("/")
    if slash and port.isdigit() and len(port) <= 5:
        return canonical_ip(host), int(port)
    return canonical_ip(token), None


def spi(token: str) -> int | None:
    """An SPI printed as `0x` hex of any width (or bare hex); None when it is not one (the
    caller says why)."""
    digits = token[2:] if token[:2].lower() == "0x" else token
    if not digits or len(digits) > 8:
        return None
    try:
        value = int(digits, 16)
    except ValueError:
        return None
    return value if value <= SPI_MAX else None


def leading_int(text: str | None) -> int | None:
    """The whole number a value starts with: "28800 Seconds" -> 28800; None when there is none."""
    if not text:
        return None
    word = text.split(" ", 1)[0]
    return int(word) if word.isdigit() and len(word) <= 12 else None


def hms_seconds(text: str) -> int | None:
    """`00:01:47` (IOS hh:mm:ss) in seconds; None when it is not that shape."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 6 for p in parts):
        return None
    hours, minutes, seconds = (int(p) for p in parts)
    return hours * 3600 + minutes * 60 + seconds
