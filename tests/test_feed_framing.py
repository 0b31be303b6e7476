"""kb/feed/framing.py: RFC 6587 frames out of a TCP stream, however the stream is cut."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.feed.framing import MAX_FRAME, Framer

IOS = (
    b"<189>45: *Nov 29 10:00:01.123: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet "
    b"has invalid spi for destaddr=192.0.2.10, prot=50, spi=0x9E6D41B7(2657960375), "
    b"srcaddr=198.51.100.20"
)
RFC5424 = b'<165>1 2026-11-29T10:00:01Z hub2 ios - - [x@1 a="b"] multi\nline'


def counted(frame: bytes) -> bytes:
    return b"%d %s" % (len(frame), frame)


def frames_of(stream: bytes, cuts: list[int] | None = None, **kwargs) -> tuple[list, Framer]:
    framer = Framer(**kwargs)
    out: list[bytes] = []
    pos = 0
    for cut in sorted(cuts or []):
        out += framer.feed(stream[pos:cut])
        pos = cut
    out += framer.feed(stream[pos:])
    out += framer.close()
    return out, framer


MIXED = (
    IOS
    + b"\n"
    + counted(RFC5424)
    + b"<13>Nov 29 10:00:01 h app: crlf\r\n"
    + b"\n\n"
    + counted(IOS)
    + b"45: *Nov 29 10:00:01: %SYS-5-CONFIG_I: line starting with a number\n"
    + b"<13>nul-terminated\x00"
    + counted(b"<13>counted, with a stray LF after it")
    + b"\n"
    + b"12 is a number and not a count\n"
)
EXPECTED = [
    IOS,
    RFC5424,
    b"<13>Nov 29 10:00:01 h app: crlf",
    IOS,
    b"45: *Nov 29 10:00:01: %SYS-5-CONFIG_I: line starting with a number",
    b"<13>nul-terminated",
    b"<13>counted, with a stray LF after it",
    b"12 is a number and not a count",
]


def test_each_frame_is_framed_on_its_own() -> None:
    out, framer = frames_of(MIXED)
    assert out == EXPECTED
    assert (framer.too_long, framer.unfinished) == (0, 0)


def test_every_way_of_cutting_the_stream_gives_the_same_frames() -> None:
    for cut in range(len(MIXED) + 1):
        assert frames_of(MIXED, [cut])[0] == EXPECTED, f"cut at {cut}"
    one_byte_at_a_time = frames_of(MIXED, list(range(len(MIXED))))[0]
    assert one_byte_at_a_time == EXPECTED


@given(st.lists(st.integers(0, len(MIXED)), max_size=12))
def test_any_cuts_give_the_same_frames(cuts: list[int]) -> None:
    assert frames_of(MIXED, cuts)[0] == EXPECTED


def test_a_last_line_without_its_lf_is_delivered_at_close() -> None:
    out, framer = frames_of(IOS + b"\n" + b"<13>the last line\r")
    assert out == [IOS, b"<13>the last line"]
    assert framer.unfinished == 0


def test_a_counted_frame_cut_by_the_close_is_dropped_and_counted() -> None:
    framer = Framer()
    assert framer.feed(counted(IOS)[:-10]) == []
    assert framer.pending
    assert framer.close() == []
    assert framer.unfinished == 1
    assert framer.close() == [] and framer.unfinished == 1  # counted once


def test_a_count_waiting_for_its_frame_is_not_a_line() -> None:
    framer = Framer()
    assert framer.feed(b"%d " % len(IOS)) == []
    assert framer.feed(b"<") == []
    assert framer.feed(IOS[1:]) == [IOS]
    assert not framer.pending


@pytest.mark.parametrize("size", [MAX_FRAME + 1, 5 * MAX_FRAME])
def test_an_oversize_counted_frame_is_skipped_by_its_count(size: int) -> None:
    big = b"<13>" + b"x" * (size - 4)
    stream = IOS + b"\n" + counted(big) + counted(IOS) + b"<13>after\n"
    for cuts in ([], list(range(0, len(stream), 1000))):
        out, framer = frames_of(stream, cuts)
        assert out == [IOS, IOS, b"<13>after"]
        assert framer.too_long == 1


@pytest.mark.parametrize("size", [MAX_FRAME + 1, 5 * MAX_FRAME])
def test_an_oversize_line_is_dropped_up_to_its_lf(size: int) -> None:
    stream = IOS + b"\n" + b"<13>" + b"y" * size + b"\n" + IOS + b"\n"
    for cuts in ([], list(range(0, len(stream), 777))):
        out, framer = frames_of(stream, cuts)
        assert out == [IOS, IOS]
        assert framer.too_long == 1


def test_a_frame_of_exactly_the_limit_is_kept() -> None:
    exact = b"<13>" + b"z" * (MAX_FRAME - 4)
    out, framer = frames_of(exact + b"\n" + counted(exact))
    assert out == [exact, exact] and framer.too_long == 0


def test_an_endless_line_holds_at_most_one_frame_of_memory() -> None:
    framer = Framer()
    for _ in range(100):
        framer.feed(b"a" * 10_000)
    assert framer.too_long == 1
    assert len(framer._held) == 0  # dropping to the next LF, holding nothing
    assert framer.feed(b"end\n" + IOS + b"\n") == [IOS]


def test_a_trickled_frame_costs_linear_time() -> None:
    # 60 KiB one byte at a time: appending each byte must not rescan or copy what is held.
    frame = b"<13>" + b"t" * (60_000 - 4)
    framer = Framer()
    start = time.perf_counter()
    out = []
    for i in range(len(frame)):
        out += framer.feed(frame[i : i + 1])
    out += framer.feed(b"\n")
    assert out == [frame]
    assert time.perf_counter() - start < 0.5


@pytest.mark.slow
@pytest.mark.parametrize(
    "unit", [b"<", b"9", b" ", b"\n", b"\x00", b"1 ", b"99999999 ", b"\r\n", b"12"]
)
def test_adversarial_streams_take_linear_time(unit: bytes) -> None:
    stream = unit * ((1 << 20) // len(unit))
    framer = Framer()
    start = time.perf_counter()
    for pos in range(0, len(stream), 65536):
        framer.feed(stream[pos : pos + 65536])
    framer.close()
    assert time.perf_counter() - start < 5.0  # ~0.5 s here: a frame per byte at worst


def test_random_junk_never_raises_and_stays_bounded() -> None:
    rng = random.Random(13)
    framer = Framer(max_frame=4096)
    for _ in range(300):
        chunk = bytes(rng.choice(b"0123456789 <\n\x00\rab") for _ in range(rng.randint(0, 500)))
        for frame in framer.feed(chunk):
            assert 0 < len(frame) <= 4096
        assert len(framer._held) <= 4096 + 12
    framer.close()
