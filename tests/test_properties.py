"""Property tests: arbitrary text never breaks the scanner; valid lines round-trip."""

from __future__ import annotations

import io
import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb import formats
from kb.formats import recognise
from kb.normalise import clean_line
from kb.scan import parse_text, read_chunks, scan
from tests.conftest import PASTES, corpus

# A line is recognised by its tag (%FACILITY-N-MNEMONIC) or by one of these: every untagged
# trigger the recognisers declare, the markers that single out tagless lines (FortiGate events,
# an operator's session), and FortiGate's unknown-SPI phrase. Nothing else may make an event.
UNTAGGED_PHRASES = (*formats.UNTAGGED_PHRASES, "unknown spi", "logdesc=")
UNTAGGED_PHRASES += tuple(m.decode().strip() for m in formats.MARKER_LITERALS)
_PHRASE = re.compile("|".join(re.escape(p).replace("\\ ", r"\s+") for p in UNTAGGED_PHRASES), re.I)


def _real_lines() -> list[str]:
    lines = [c["line"] for c in corpus()]
    for paste in sorted(PASTES.glob("*.txt")):
        lines += paste.read_text().splitlines()
    return [line for line in lines if line.strip()]


def _untriggered(line: str) -> str:
    """A real line without what makes it recognisable: the "%" of its tag, and each phrase
    cut to its first word ("invalid spi" -> "invalid")."""
    return _PHRASE.sub(lambda m: m[0].split()[0] if " " in m[0] else "x", line.replace("%", ""))


def _tagless(text: str) -> bool:
    cleaned = " ".join(" ".join(clean_line(line) for line in text.splitlines()).split())
    return "%" not in cleaned and _PHRASE.search(cleaned) is None


REAL_LINES = _real_lines()
WORDS = sorted({word for line in REAL_LINES for word in _untriggered(line).split()})
# Log material with no tag and no phrase, built from what recognisers read: real lines with
# their triggers taken out and some words dropped, and shuffles of their words (addresses,
# SPIs, key=value pairs, times, mnemonics). A recogniser that fires on less than its tag or
# phrase (a mnemonic without "%", "srcaddr=", an address) makes an event here and fails.
_LINE = st.one_of(
    st.tuples(st.sampled_from(REAL_LINES), st.sets(st.integers(0, 30), max_size=4)).map(
        lambda t: " ".join(w for i, w in enumerate(_untriggered(t[0]).split()) if i not in t[1])
    ),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=16).map(" ".join),
)
TAGLESS = st.lists(_LINE, min_size=1, max_size=4).map("\n".join).filter(_tagless)


@pytest.mark.slow  # over a second of examples on first run
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    for event in parse_text(text):
        assert event.line >= 1


@given(st.binary())
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    try:
        list(scan(read_chunks(io.BytesIO(data), size=16)))
    except Exception as exc:  # only the documented refusal is allowed
        assert type(exc).__name__ == "InputError"


@given(TAGLESS)
def test_line_without_a_recognised_tag_gives_no_event(text: str) -> None:
    assert parse_text(text) == []
    # recognise() itself too, for lines the scanner's quick look would have skipped
    assert [line for line in text.splitlines() if recognise(clean_line(line), 1)] == []


addresses = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda a: a.exploded))


@pytest.mark.slow  # 300 examples, about a second
@settings(max_examples=300)
@given(
    local=addresses,
    peer=addresses,
    spi=st.integers(0, 2**32 - 1),
    prot=st.sampled_from([50, 51]),
    iface=st.one_of(st.none(), st.from_regex(r"[A-Za-z]{2,15}[0-9](/[0-9]){0,2}", fullmatch=True)),
    upper=st.booleans(),
)
def test_generated_ios_line_round_trips(local, peer, spi, prot, iface, upper) -> None:
    hex_spi = f"{spi:08X}" if upper else f"{spi:08x}"
    line = (
        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
        f"destaddr={local}, prot={prot}, spi=0x{hex_spi}({spi}), srcaddr={peer}"
        + (f", input interface={iface}" if iface else "")
    )
    [event] = parse_text(line)
    assert event.local == str(ipaddress.ip_address(local))
    assert event.peer == str(ipaddress.ip_address(peer))
    assert (event.spi, event.spi_decimal, event.spi_consistent) == (f"0x{spi:08X}", spi, True)
    assert event.protocol == {50: "esp", 51: "ah"}[prot]
    assert event.interface == iface


@settings(max_examples=50)
@given(size=st.integers(1, 300))
def test_chunk_size_never_changes_the_result(size: int) -> None:
    text = "\n".join(c["line"] for c in corpus()) + "\n"
    # a wrapped line must survive being split across chunks too
    text += "Sep  2 13:27:57.707: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet\n"
    text += "has invalid spi for destaddr=192.0.2.1, prot=50, spi=0x1(1), srcaddr=192.0.2.2\n"
    whole = [e.to_dict() for e in parse_text(text)]
    chunked = [e.to_dict() for e in scan(read_chunks(io.BytesIO(text.encode()), size=size))]
    assert chunked == whole
    assert whole[-1]["peer"] == "192.0.2.2"
