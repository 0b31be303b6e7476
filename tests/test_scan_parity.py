"""The fast scanner finds what a line-by-line reading finds (tests/scan_reference.py).

kb.scan reads whole buffers: an engine finds the lines worth reading (kb/markers.py, which
skips most lines of the two noisiest families), and only those are decoded and recognised.
Here every engine built here (kb/_lines.c, Hyperscan, and Python's re), fed in chunks of every
size, must give the same events, line numbers and counts as the reference, on the whole
corpus, on the property tests' inputs, on random splices of what the noisy families' rules
read, and on a generated 100,000-line log.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb import markers, scan
from kb.events import Event
from kb.scan import ScanStats
from tests.conftest import PASTES, ROOT, c_nibbles, corpus, needs_c
from tests.scan_reference import reference_scan
from tests.test_properties import REAL_LINES, TAGLESS

# kb/_lines.c finds its anchors with nibble tables (SSSE3, NEON) or, on other CPUs, by comparing
# with each anchor: "c-compare" is the second, run here.
ENGINES = markers.available() + (["c-compare"] if "c" in markers.available() else [])


@contextmanager
def engine_in_use(engine: str) -> Iterator[None]:
    """kb.scan reading with `engine` for the time of the block."""
    saved = scan._lines_to_read, scan._start_pass
    name = engine.removesuffix("-compare")
    scan._lines_to_read, scan._start_pass = markers.liner(name), markers.starter(name)
    try:
        with c_nibbles(not engine.endswith("-compare")):
            yield
    finally:
        scan._lines_to_read, scan._start_pass = saved


def fast_scan(data: bytes, engine: str, size: int | None = None) -> tuple[list, ScanStats]:
    """kb.scan over data in chunks of `size` bytes (one chunk if None), with `engine`."""
    chunks = [data] if size is None else [data[i : i + size] for i in range(0, len(data), size)]
    with engine_in_use(engine):
        stats = ScanStats()
        return list(scan.scan(chunks, stats)), stats


def assert_same(data: bytes, sizes: tuple[int | None, ...] = (None, 4096)) -> None:
    want, want_stats = reference_scan(data)
    for engine in ENGINES:
        for size in sizes:
            got, stats = fast_scan(data, engine, size)
            where = f"{engine}, chunks of {size or 'all'} bytes"
            assert got == want, where
            for name in ("lines", "bytes", "events", "undecodable", "cut_short"):
                assert getattr(stats, name) == getattr(want_stats, name), f"{name}: {where}"
            # Only lines read count as cut; the reference reads every line with a marker.
            assert stats.cut_lines <= want_stats.cut_lines, where


def corpus_files() -> list[Path]:
    roots = (ROOT / "tests" / "fixtures", ROOT / "tests" / "cases", PASTES)
    return sorted(p for root in roots for p in root.rglob("*.txt"))


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_corpus_file(path: Path) -> None:
    assert_same(path.read_bytes(), sizes=(None, 64, 4096))


def test_the_real_lines_one_after_another() -> None:
    data = "".join(c["line"] + "\n" for c in corpus()).encode()
    want, _ = reference_scan(data)
    expected = [c for c in corpus() if (c.get("expect") or {}).get("kind")]
    assert len(want) == len(expected)  # the reference finds what the corpus says is there
    assert_same(data, sizes=(None, 100, 4096))


@pytest.mark.slow  # hundreds of examples, each scanned six ways
@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    assert_same(text.encode("utf-8", "surrogatepass"), sizes=(None, 7))


@pytest.mark.slow  # hundreds of examples, each scanned six ways
@settings(max_examples=300, deadline=None)
@given(st.binary())
def test_arbitrary_bytes(data: bytes) -> None:
    assert_same(data, sizes=(None, 5))


@pytest.mark.slow  # hundreds of examples, each scanned six ways
@settings(max_examples=200, deadline=None)
@given(TAGLESS)
def test_tagless_lines(text: str) -> None:
    assert_same(text.encode(), sizes=(None, 11))


@pytest.mark.slow  # hundreds of examples, each scanned six ways
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(REAL_LINES), min_size=1, max_size=12),
    st.sampled_from([b"\n", b"\r\n"]),
)
def test_real_lines_in_any_order(lines: list[str], newline: bytes) -> None:
    assert_same(newline.join(line.encode() for line in lines), sizes=(None, 13, 200))


# What the rules for the noisy families look at (kb/markers.py), to splice at random: tags
# whole, broken and of other facilities, denies of every protocol and port, tagless phrases,
# and what clean_line rewrites.
PIECES = (
    "%ASA-6-302013: ",
    "%ASA-4-106023: ",
    "%FTD-4-106006: ",
    "%PIX-4-106007: ",
    "%ASA-1-104001: ",
    "%ASA-4-402117: ",
    "%ASA-7-711001: ",
    "%ASA",
    "%ASA ",
    "%ASA:",
    "%ASAv-6-1: ",
    "%ASA-6",
    "%ASA-6-",
    "%ASA-vpn-6-302013: ",
    "%ASA-vpn-",
    "%ASA-6-302013x ",
    "%ASA-66-1 ",
    "%FTD-x-1 ",
    "%SEC-6-IPACCESSLOGP: list A ",
    "%SEC-6-IPACCESSLOGNP: list 101 ",
    "%SEC-6-IPACCESSLOG: list B ",
    "%FOO-6-IPACCESSLOGP: list C ",
    "%FOO-5-SESSION_STATUS: ",
    "%BAR-4-106023: ",
    "%LINK-3-UPDOWN: ",
    "%SYS-5-RESTART: ",
    "%HSRP-5-STATECHANGE: ",
    "%CRYPTO-4-IKMP_NO_SA: ",
    "denied ",
    "permitted ",
    "Deny ",
    "deny protocol ",
    "DENY ",
    "udp ",
    "UDP ",
    "tcp ",
    "esp ",
    "ah ",
    "50 ",
    "51 ",
    "47 ",
    "udp",
    "198.51.100.7",
    "(500) ",
    "(4500)",
    "(53) ",
    "(5000) ",
    "-> ",
    "192.0.2.1",
    "(500), 1 packet",
    "src outside:198.51.100.7/500 ",
    "src outside:198.51.100.7/53 ",
    "dst inside:192.0.2.1/4500 ",
    "dst inside:192.0.2.1/123 ",
    'by access-group "OUT"',
    "Crypto tunnel is DOWN. Peer 198.51.100.7:500 ",
    "GigabitEthernet0/0 Grp 10 state Standby -> Active ",
    "Switching to ACTIVE ",
    "IKE message from 198.51.100.7 has no SA ",
    "ignoring request to send delete notify (no ISAKMP sa) src 192.0.2.1 dst 198.51.100.7 ",
    "Received PFKEY Invalid SPI for SPI 0x1A2B3C4D ",
    "nat ",
    "NAT: s=10.0.0.1 ",
    "cle ",
    "diag ",
    "logid = 0101037131 ",
    "logdesc=x ",
    "-process = 1 ",
    "can`t find sa ",
    "invalid spi ",
    "\t",
    "\r",
    "\u00a0",
    "\u2019",
    "\u200b",
    "```",
    "&#37;",
    "&lt;",
    "&amp; ",
    "<189>",
    "<@U123> ",
    "<mailto:a@b|",
    "<!here>",
    ">",
    "é",
    "\x1c",
    " = ",
    "=",
    " ",
    "Mar  3 09:14:02.113: ",
)


@pytest.mark.slow  # hundreds of examples, each scanned six ways
@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(PIECES), min_size=1, max_size=10).map("".join), max_size=6)
)
def test_random_splices_of_what_the_noisy_rules_read(lines: list[str]) -> None:
    assert_same("\n".join(lines).encode(), sizes=(None, 17))


def generated_log(count: int, seed: int = 14) -> bytes:
    """A mixed log: the benchmark's kinds of line, the real lines, and spliced noisy lines,
    under several framings, with some wrapped lines, CRLF endings and bad bytes."""
    rng = random.Random(seed)
    frames = (
        "Mar  3 09:14:02.113: ",
        "<189>12: Mar  3 09:14:02: ",
        "2024-03-03T09:14:02Z rtr ",
        "",
    )
    bodies = [
        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
        "destaddr=192.0.2.1, prot=50, spi=0x{spi:08X}({spi}), srcaddr=198.51.100.{p}",
        "%ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0x{spi:08X}, sequence number= 0x1A) "
        "from 203.0.113.{p} to 192.0.2.9 with an invalid SPI.",
        "%SEC-6-IPACCESSLOGP: list OUT denied udp 198.51.100.{p}(500) -> 192.0.2.1(500), 1 packet",
        "%SEC-6-IPACCESSLOGP: list OUT denied tcp 198.51.100.{p}(5{p}) -> 192.0.2.1(22), 1 packet",
        "%ASA-4-106023: Deny udp src outside:198.51.100.{p}/4500 dst inside:192.0.2.9/4500 by x",
        "%ASA-4-106023: Deny tcp src outside:198.51.100.{p}/5{p} dst inside:10.2.2.{p}/445 by x",
        "%ASA-6-302013: Built inbound TCP connection {p} for outside:198.51.100.{p}/5{p} to x",
        "%LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/{p}, changed state to up",
    ]
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.6:
            body = rng.choice(bodies).format(p=rng.randrange(1, 250), spi=rng.randrange(1 << 32))
        elif roll < 0.8:
            body = rng.choice(REAL_LINES)
        else:
            body = "".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 8)))
        line = (rng.choice(frames) + body).encode("utf-8", "surrogatepass")
        if rng.random() < 0.01 and " for " in body:  # wrapped by hand after "for"
            cut = line.index(b" for ") + 4
            line = line[:cut] + b"\n" + line[cut + 1 :]
        if rng.random() < 0.005:
            line += b"\xff\xfe"
        out.append(line + (b"\r\n" if rng.random() < 0.05 else b"\n"))
    return b"".join(out)


@pytest.mark.slow
def test_a_generated_100k_line_log() -> None:
    data = generated_log(100_000)
    want, _ = reference_scan(data)
    assert len(want) > 40_000  # about half the lines make an event
    assert_same(data, sizes=(None, 1 << 16, 4 << 20))


IOS_BODY = (
    "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.1, prot=50, spi=0x5A3D1F2C(1513955116), srcaddr=198.51.100.7"
)
ASA_BODY = (
    "%ASA-4-402114: IPSEC: Received an ESP packet (SPI=0x5A3D1F2C, sequence number=0x1A) "
    "from 203.0.113.7 to 192.0.2.9 with an invalid SPI."
)
EDGES = [
    IOS_BODY,
    IOS_BODY + ", input interface=GigabitEthernet0/0/0",
    IOS_BODY + ", input interface=Gi0/0 and more",
    IOS_BODY.replace("(1513955116)", "(1513955117)"),  # the decimal disagrees
    IOS_BODY.replace("(1513955116)", "(-2780912180)"),
    IOS_BODY.replace("(1513955116)", "(5808922412)"),  # over 32 bits, same low bits
    IOS_BODY.replace("0x5A3D1F2C", "0x5a3d1f2c"),
    IOS_BODY.replace("0x5A3D1F2C", "0x0A3D1F2C").replace("(1513955116)", "(171777836)"),
    IOS_BODY.replace("srcaddr=198.51.100.7", "srcaddr=198.51.100.256"),
    IOS_BODY.replace("srcaddr=198.51.100.7", "srcaddr=198.051.100.7"),
    IOS_BODY.replace("destaddr=192.0.2.1", "destaddr=2001:db8::1"),
    IOS_BODY.replace("prot=50", "prot=51"),
    "50% of %LINK-3-UPDOWN " + IOS_BODY,
    "%SYS-5-CONFIG_I: x " + IOS_BODY,
    ASA_BODY,
    ASA_BODY.replace("%ASA-4-402114", "%FTD-4-402119").replace("ESP", "AH"),
    ASA_BODY.replace("%ASA-4-402114", "%ASA-4-402120"),
    ASA_BODY.replace("%ASA-4-402114", "%ASA-5-402114"),
    ASA_BODY.replace("from 203.0.113.7", "from 203.0.113.7 (user= bob)"),
    ASA_BODY.replace(" with an invalid SPI.", ""),
    ASA_BODY.replace("192.0.2.9 with", "192.0.2.9abc with"),
    ASA_BODY.replace("192.0.2.9 with", "192.0.2.9. with"),
]
FRAMINGS = ["", "Mar  3 09:14:02.113: ", "*Mar  3 09:14:02.113 UTC: ", "<189>12: Mar  3 09:14:02: "]
FRAMINGS += ["2024-03-03T09:14:02+00:00 rtr-edge-1 ", "hub1: ", "Mar  3 09:14:02 hub1 "]


@pytest.mark.parametrize("framing", FRAMINGS)
def test_the_shortcut_agrees_with_the_recognisers_at_its_edges(framing: str) -> None:
    from kb.formats import _shortcut, recognise, recognise_each

    lines = [framing + body for body in EDGES]
    assert [recognise(line, 7) for line in lines] == [recognise_each(line, 7) for line in lines]
    taken = [line for line in lines if _shortcut(line, 7) is not None]
    assert len(taken) >= 8  # the common shapes do take it: the comparison above is not empty


# Lines as the scanner meets them, before clean_line: kb.formats.fast_line reads the commonest
# ones in one match and must agree with cleaning and recognising, or leave the line to them.
RAW_EDGES = [
    *EDGES,
    ASA_BODY.replace("SPI=", "SPI= ").replace("number=", "number= "),  # as ASAs print it
    ASA_BODY.replace("SPI=", "SPI=  "),
    ASA_BODY.replace("SPI=", "SPI ="),
    ASA_BODY.replace("invalid SPI.", "invalid SPI. "),
    ASA_BODY.replace("invalid SPI.", "invalid SPI.\t"),
    ASA_BODY.replace("invalid SPI.", "invalid SPI &amp; more"),
    ASA_BODY.replace("invalid SPI.", "invalid SPI <@U123>"),
    ASA_BODY.replace("invalid SPI.", "invalid SPI `x`"),
    ASA_BODY.replace("invalid SPI.", "invalid SPI \u2019s"),
    ASA_BODY.replace("invalid SPI.", "invalid SPI x= y"),
    ASA_BODY.replace(" with an invalid SPI.", "\r"),
    IOS_BODY + ", input interface=Gi0/0 ",
    IOS_BODY + ", input interface=Gi0/0\u00a0",
    IOS_BODY + ", input interface=Gi0/0&amp;",
    IOS_BODY.replace("rec'd", "rec\u2019d"),
    IOS_BODY.replace("destaddr=", "destaddr= "),
]
RAW_FRAMINGS = [
    *FRAMINGS,
    "<189>12: *Mar  3 09:14:02.113 UTC: ",
    "<189>12: Mar  3 2024 09:14:02: ",
    "<189>12: Mar  3 09:14:02:   ",
    "<189>12: Mar  3 09:14:02 UTC hub1: ",
    "<189>12:  Mar  3 09:14:02: ",
    "<189>Mar  3 09:14:02: ",
    "<189> 12: Mar  3 09:14:02: ",
    ".Mar  3 09:14:02.113: ",
    "Mar\t3 09:14:02: ",
    " Mar  3 09:14:02: ",
    "Mar  3 09:14:02 : ",
    "2024-03-03 09:14:02 +0100 rtr ",
    "2024-03-03T09:14:02.5Z  rtr.example.net  ",
    "2024-03-03T09:14:02Z rtr\u00e9 ",
    "12: 00:01:02: ",
    "&lt;189&gt;12: Mar  3 09:14:02: ",
]


@pytest.mark.parametrize("framing", RAW_FRAMINGS)
def test_the_one_match_reading_agrees_with_cleaning_and_recognising(framing: str) -> None:
    from kb.formats import fast_line, recognise
    from kb.normalise import clean_line

    lines = [framing + body for body in RAW_EDGES]
    fast = [fast_line(line, 7) for line in lines]
    slow = [recognise(clean_line(line), 7) for line in lines]
    for line, got, want in zip(lines, fast, slow, strict=True):
        assert got is None or got == want, line


def test_the_one_match_reading_takes_the_common_shapes() -> None:
    from kb.formats import fast_line

    taken = [
        (framing, body)
        for framing in RAW_FRAMINGS
        for body in RAW_EDGES
        if fast_line(framing + body, 7) is not None
    ]
    # Every framing of the benchmark's file, ASA's "SPI= " among them: the comparison above is
    # not empty, and the commonest lines do not fall back to the slower reading.
    for framing in ("", "Mar  3 09:14:02.113: ", "<189>12: Mar  3 09:14:02: "):
        assert (framing, RAW_EDGES[len(EDGES)]) in taken
        assert (framing, IOS_BODY) in taken
    assert ("2024-03-03T09:14:02+00:00 rtr-edge-1 ", EDGES[1]) in taken
    assert len(taken) > 100


# Framings at the edges of the C reading's grammar: zones, fractions, PRIs, ISO times, hosts.
C_FRAMINGS = [
    *RAW_FRAMINGS,
    "Mar  3 09:14:02 +05:30: ",
    "Mar  3 09:14:02+0530: ",
    "Mar  3 09:14:02 +05:3: ",
    "Mar  3 09:14:02 ABCDEF: ",
    "Mar  3 09:14:02 AB1: ",
    "Mar  3 09:14:02 Z: ",
    "Mar 13 2024 09:14:02.5 UTC ",
    "Mar 13 2024 09:14:02.5 UTC:",
    ".Mar  3 09:14:02: ",
    "Mar  3 09:14:02.: ",
    "Mar  3 9:14:02: ",
    "Mar 123 09:14:02: ",
    "Mar  3 2024  09:14:02 : ",
    "Mar  3 20245 09:14:02: ",
    "Mars 3 09:14:02: ",
    "<1>2: Mar 3 09:14:02:",
    "<1234>2: Mar 3 09:14:02: ",
    "<12>: Mar 3 09:14:02: ",
    "<12>3 Mar 3 09:14:02: ",
    "2024-03-03 09:14:02.123Z host ",
    "2024-03-03T09:14:02 +0000 host.example-1 ",
    "2024-03-03T09:14:02+00:0 h ",
    "2024-03-03T09:14:02 _h ",
    "2024-03-03T09:14:02Z h",
    "2024-03-03T09:14:02Z  h_1.a-b  ",
    "2024-3-03T09:14:02Z h ",
]


def c_reading(line: str) -> Event | None:
    """kb/_lines.c's whole reading of one line: its event, or None (left to Python)."""
    data = line.encode("utf-8", "surrogatepass")
    found, _ = markers.liner("c")(data, 0, len(data), 7)
    events = [item for item in found if isinstance(item, Event)]
    return events[0] if events else None


@needs_c
@pytest.mark.parametrize("framing", C_FRAMINGS)
def test_the_c_reading_is_the_one_match_reading(framing: str) -> None:
    from kb.formats import fast_line

    for body in RAW_EDGES:
        line = framing + body
        assert c_reading(line) == fast_line(line, 7), line


@needs_c
def test_the_c_reading_takes_what_the_benchmark_prints() -> None:
    # The commonest lines are read in C (else they would cost Python's time, unseen).
    for framing in ("", "Mar  3 09:14:02.113: ", "<189>12: Mar  3 09:14:02: "):
        for body in (IOS_BODY, RAW_EDGES[len(EDGES)]):
            assert c_reading(framing + body) is not None, framing + body
    assert c_reading("2024-03-03T09:14:02+00:00 rtr-edge-1 " + ASA_BODY).device == "rtr-edge-1"


EDITS = "0123456789 :.-+*<>%=,()AZaxz_\t\r\u00e9&`"


@needs_c
@pytest.mark.slow  # hundreds of examples
@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(C_FRAMINGS),
    st.sampled_from(RAW_EDGES),
    st.lists(
        st.tuples(
            st.integers(0, 400),
            st.sampled_from(["insert", "replace", "delete"]),
            st.sampled_from(EDITS),
        ),
        max_size=3,
    ),
)
def test_the_c_reading_agrees_on_edited_lines(framing: str, body: str, edits: list) -> None:
    from kb.formats import fast_line

    line = framing + body
    for at, how, char in edits:
        at %= len(line) + 1
        if how == "insert":
            line = line[:at] + char + line[at:]
        elif how == "replace":
            line = line[:at] + char + line[at + 1 :]
        else:
            line = line[:at] + line[at + 1 :]
    line = line.replace("\n", "")
    assert c_reading(line) == fast_line(line, 7), line


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner searching a chunk ahead, as it does where a second core may run the pass."""
    monkeypatch.setattr(scan, "_cores", lambda: 2)


@pytest.mark.slow
@pytest.mark.usefixtures("two_cores")
def test_passes_started_ahead_find_what_the_reference_finds() -> None:
    # Big chunks have their pass started a chunk ahead, after the line the chunk before left
    # unfinished: chunks ending mid-line, ending on a newline, cutting a wrapped line, or
    # holding no newline at all must all give the reference's events.
    data = generated_log(30_000, seed=11)
    lone = b"x" * (scan._AHEAD_BYTES + 10)  # a chunk of one unfinished line
    cut = data.index(b" for\n") + 3  # a wrapped line, cut before its continuation
    splits = {
        "mid-line": [data[i : i + 70_001] for i in range(0, len(data), 70_001)],
        "on newlines": data.splitlines(keepends=True),
        "wrapped line cut": [data[:cut], data[cut:]],
        "no newline": [data[:cut], lone, lone, b"\n" + data[cut:]],
    }
    splits["on newlines"] = [
        b"".join(splits["on newlines"][i : i + 900]) for i in range(0, 30_000, 900)
    ]
    for name, chunks in splits.items():
        joined = b"".join(chunks)
        want, want_stats = reference_scan(joined)
        for engine in ENGINES:
            with engine_in_use(engine):
                stats = ScanStats()
                got = list(scan.scan(chunks, stats))
            assert got == want, (name, engine)
            for field in ("lines", "bytes", "events", "undecodable", "cut_short"):
                assert getattr(stats, field) == getattr(want_stats, field), (name, engine, field)


@needs_c
@pytest.mark.parametrize("mid_line", [False, True])
@pytest.mark.parametrize("cores", [1, 2])
def test_a_big_file_is_searched_a_chunk_ahead(
    monkeypatch: pytest.MonkeyPatch, mid_line: bool, cores: int
) -> None:
    # Each pass runs beside the reading of the chunk before: what is left to search in turn
    # is at most the line each chunk finishes for the one before. On one core, all of it.
    monkeypatch.setattr(scan, "_cores", lambda: cores)
    log = generated_log(2_000, seed=3)
    data = log * (4 * scan._AHEAD_BYTES // len(log) + 1)
    size = len(log) + (7 if mid_line else 0)
    in_turn = []

    def counted(data: bytes, begin: int, end: int, first_line: int) -> tuple:
        in_turn.append(end - begin)
        return markers.liner("c")(data, begin, end, first_line)

    want, _ = reference_scan(data)
    monkeypatch.setattr(scan, "_lines_to_read", counted)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert list(scan.scan(chunks)) == want
    if cores == 1:
        assert sum(in_turn) == len(data)
    else:
        assert len(in_turn) == (len(data) // size if mid_line else 0)
        assert max(in_turn, default=0) < 1_000


@pytest.mark.parametrize("cores", [1, 2])
def test_a_chunk_read_ahead_gives_its_events_when_the_next_read_fails(
    monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    monkeypatch.setattr(scan, "_cores", lambda: cores)

    def chunks() -> Iterator[bytes]:
        yield (IOS_BODY + "\n").encode() * 1_000  # over _AHEAD_BYTES
        raise OSError("the disk went away")

    got = []
    with pytest.raises(OSError, match="went away"):
        for event in scan.scan(chunks()):
            got.append(event)
    assert len(got) == 1_000


@needs_c
def test_a_pass_gives_its_lines_once_and_can_be_dropped() -> None:
    data = generated_log(200, seed=5)
    end = data.rfind(b"\n") + 1
    want = markers._lines.find_lines(data, 0, end, 7, True)
    started = markers._lines.Pass(data, 0, end, True)
    assert started.lines(7) == want
    with pytest.raises(RuntimeError, match="once"):
        started.lines(7)
    for _ in range(50):  # dropped while its thread may still run: joined, not freed under it
        markers._lines.Pass(bytearray(data), 0, end, True)
    resized = bytearray(data)
    with pytest.raises(ValueError, match="offsets"):
        markers._lines.Pass(resized, 0, len(data) + 1, True)
    markers._lines.Pass(resized, 0, end, True).lines(1)
    resized.extend(b"more")  # refused (BufferError) if a Pass still held it


@needs_c
def test_a_pass_taken_from_several_threads_is_taken_once() -> None:
    data = generated_log(20_000, seed=6)
    end = data.rfind(b"\n") + 1
    want = markers._lines.find_lines(data, 0, end, 1, True)
    for _ in range(5):
        started = markers._lines.Pass(data, 0, end, True)
        results: list = []

        def take(started=started, results=results) -> None:
            try:
                results.append(started.lines(1))
            except RuntimeError as error:
                results.append(str(error))

        threads = [threading.Thread(target=take) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert results.count(want) == 1
        assert results.count("a Pass's lines are taken once") == 3


# tracemalloc's hook on Python's allocators takes the GIL: a pass thread allocating through
# them deadlocked with a Pass dropped (and joined) by a thread holding the GIL.
DROPPED_UNDER_TRACEMALLOC = r"""
import tracemalloc
from kb.markers import _lines
line = b"%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for destaddr="
line += b"192.0.2.1, prot=50, spi=0x0000000A(10), srcaddr=198.51.100.7\n"
data = line * 200_000
tracemalloc.start()
for _ in range(3):
    _lines.Pass(data, 0, len(data), True)
print(len(_lines.Pass(data, 0, len(data), True).lines(1)[0]))
"""


@needs_c
def test_a_pass_dropped_under_tracemalloc_does_not_hang() -> None:
    done = subprocess.run(
        [sys.executable, "-c", DROPPED_UNDER_TRACEMALLOC],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, "200000\n"), done.stderr[-2000:]


@needs_c
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_child_forked_while_a_pass_runs_gets_the_whole_pass() -> None:
    # The child has no copy of the thread: it runs the pass again rather than give half.
    data = generated_log(20_000, seed=8) * 5
    end = data.rfind(b"\n") + 1
    want = len(markers._lines.find_lines(data, 0, end, 1, True)[0])
    started = markers._lines.Pass(data, 0, end, True)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, str(len(started.lines(1)[0])).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        assert int(pipe.read()) == want
    assert len(started.lines(1)[0]) == want


def test_a_wrapped_line_split_between_chunks_anywhere() -> None:
    # The line carried over is finished by the next chunk's first line and read on its own; a
    # wrapped line cut there waits for its continuation further in the chunk.
    wrapped = (
        "Mar  3 09:14:02: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid "
        "spi for\ndestaddr=192.0.2.1, prot=50, spi=0x0000000A(10), srcaddr=198.51.100.7\n"
    )
    data = ("x" * 50 + "\n" + wrapped + "tail\n" + wrapped).encode()
    want, want_stats = reference_scan(data)
    assert len(want) == 2 and want[0].peer == "198.51.100.7"
    for engine in ENGINES:
        for cut in range(1, len(data)):
            for chunks in (
                [data[:cut], data[cut:]],
                [data[:cut], data[cut : cut + 3], data[cut + 3 :]],
            ):
                with engine_in_use(engine):
                    stats = ScanStats()
                    got = list(scan.scan(chunks, stats))
                assert got == want, (engine, cut)
                counts = (stats.lines, stats.candidates, stats.events)
                assert counts == (want_stats.lines, want_stats.candidates, want_stats.events)
