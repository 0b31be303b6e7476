"""kb/feed/syslog.py: every syslog framing a router or a relay sends, read back through the
same recogniser as a paste (kb.scan.parse_text) with the right device, time, peer and SPI."""

from __future__ import annotations

import time

import pytest

from kb.feed.syslog import read_frame, to_line
from kb.formats import TAG
from kb.scan import parse_text
from tests.conftest import corpus

SOURCE = "192.0.2.99"  # the sender's address, as a receiver passes it
BOM = "\ufeff"

# The messages of the real invalid-SPI lines in tests/fixtures (their own framing removed:
# each case below frames them the way one sender does).
REAL = [
    (case["line"][TAG.search(case["line"]).start() :], case["expect"])
    for case in corpus()
    if case["expect"].get("kind") == "invalid_spi" and TAG.search(case["line"])
]

# (name, frame around {msg}, expected device, expected time); None: the source / no time.
FORMS = [
    ("IOS, no syslog header", "<189>45: *Nov 29 10:00:01.123: {msg}", None, "Nov 29 10:00:01.123"),
    (
        "IOS with logging origin-id",
        "<189>45: hub1: *Nov 29 10:00:01.123: {msg}",
        "hub1",
        "Nov 29 10:00:01.123",
    ),
    ("IOS without timestamps", "<189>46: {msg}", None, None),
    ("IOS, no sequence number", "<189>*Nov 29 10:00:01.123: {msg}", None, "Nov 29 10:00:01.123"),
    (
        "ASA with logging device-id",
        "<164>Nov 29 2026 10:00:01 asa1 : {msg}",
        "asa1",
        "Nov 29 2026 10:00:01",
    ),
    ("ASA without device-id", "<164>Nov 29 2026 10:00:01: {msg}", None, "Nov 29 2026 10:00:01"),
    # util-linux logger --rfc3164 and rsyslog's default: HOSTNAME then an app TAG; an all
    # capitals host must not be read as a time zone, the TAG never as the device.
    ("RFC 3164", "<13>Nov  9 10:00:01 CORE spibot[42]: {msg}", "CORE", "Nov  9 10:00:01"),
    ("RFC 3164 without PRI", "Nov 29 10:00:01 edge-1 {msg}", "edge-1", "Nov 29 10:00:01"),
    (
        "RFC 3164 with an RFC 3339 time (rsyslog's forward format)",
        "<189>2026-11-29T10:00:01.123456+00:00 edge-2 spibot: {msg}",
        "edge-2",
        "2026-11-29T10:00:01.123456+00:00",
    ),
    (
        "RFC 5424 with structured data and a BOM",
        '<165>1 2026-11-29T10:00:01.003Z hub2.example.com ios - ID47 [exampleSDID@32473 iut="3"'
        ' eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] '
        + BOM
        + "{msg}",
        "hub2.example.com",
        "2026-11-29T10:00:01.003Z",
    ),
    (
        'RFC 5424 with a value escaping ] and "',
        '<165>1 2026-11-29T10:00:01Z hub3 ios 77 - [x@1 a="q\\]\\"uote"] {msg}',
        "hub3",
        "2026-11-29T10:00:01Z",
    ),
    ("RFC 5424 without host or time", "<165>1 - - - - - - {msg}", None, None),
    (
        "IOS relayed by rsyslog (forward format)",
        "<189>2026-11-29T10:00:02+00:00 10.0.0.9 45: hub1: *Nov 29 10:00:01.123: {msg}",
        "hub1",
        "Nov 29 10:00:01.123",
    ),
    (
        "IOS relayed, router's own stamp, no origin-id",
        "<189>2026-11-29T10:00:02+00:00 10.0.0.9 45: *Nov 29 10:00:01.123: {msg}",
        "10.0.0.9",
        "Nov 29 10:00:01.123",
    ),
    (
        "IOS-XE RFC 5424",
        "<189>1 2026-11-29T10:00:01.123Z hub4 - - - - 45: *Nov 29 10:00:01.123: {msg}",
        "hub4",
        "Nov 29 10:00:01.123",
    ),
]


def _event(line: str):
    events = [e for e in parse_text(line) if e.kind == "invalid_spi"]
    assert len(events) == 1, f"{line!r} gave {events}"
    return events[0]


@pytest.mark.parametrize(("name", "form", "device", "stamp"), FORMS, ids=[f[0] for f in FORMS])
@pytest.mark.parametrize(("message", "expect"), REAL, ids=[m[:40] for m, _ in REAL])
def test_every_framing_reads_with_its_device_time_peer_and_spi(
    name, form, device, stamp, message, expect
) -> None:
    frame = form.format(msg=message).encode()
    line = to_line(frame, SOURCE)
    assert "\n" not in line and "<189>" not in line
    event = _event(line)
    assert event.device == (device or SOURCE)
    assert event.time == stamp
    assert event.platform == expect["platform"]
    assert (event.peer, event.local, event.spi) == (
        expect.get("peer"),
        expect.get("local"),
        expect.get("spi"),
    )
    assert read_frame(frame, SOURCE).device == (device or SOURCE)


@pytest.mark.parametrize(("name", "form", "device", "stamp"), FORMS, ids=[f[0] for f in FORMS])
def test_an_ipv6_sender_is_the_frames_device_where_the_line_cannot_carry_it(
    name, form, device, stamp
) -> None:
    # kb/stamps.py reads no IPv6 address as a device name: the caller takes Frame.device.
    message, expect = REAL[0]
    frame = read_frame(form.format(msg=message).encode(), "2001:db8::9")
    event = _event(frame.line)
    assert event.device == device
    assert frame.device == (device or "2001:db8::9")
    assert (event.time, event.peer, event.spi) == (stamp, expect["peer"], expect["spi"])


# --- untagged formats: FortiGate key=value, PAN-OS CSV ---------------------------------------

FORTIGATE = next(c for c in corpus() if "unknown SPI" in c["line"])


def test_fortigate_syslog_reads_its_devname_and_its_own_date() -> None:
    # FortiOS sends key=value after the PRI with no syslog header; devname follows the time.
    message = FORTIGATE["line"].replace(
        " eventtime=", ' devname="FGT-HQ" devid="FG100FTK19000000" eventtime='
    )
    frame = read_frame(f"<189>{message}".encode(), SOURCE)
    event = _event(frame.line)
    assert (event.platform, event.device, event.time) == (
        "fortigate",
        "FGT-HQ",
        "2022-09-08 16:29:21",
    )
    assert (event.peer, event.spi) == (FORTIGATE["expect"]["peer"], FORTIGATE["expect"]["spi"])


def test_fortigate_without_devname_leaves_the_device_to_the_sender() -> None:
    frame = read_frame(f"<189>{FORTIGATE['line']}".encode(), SOURCE)
    event = _event(frame.line)
    assert event.device is None and frame.device == SOURCE
    assert event.spi == FORTIGATE["expect"]["spi"]


# PAN-OS SYSTEM log in its default (BSD) syslog format: receive time, serial, type, subtype,
# generated time, vsys, event id, object, module, severity, description, ... device name.
PANOS = (
    "<14>Nov 29 10:00:01 PA-VM 1,2026/11/29 10:00:01,007200001056,SYSTEM,vpn,0,"
    "2026/11/29 10:00:01,,ipsec-key-delete,tun-to-hub,0,0,general,informational,"
    '"IPSec key deleted. Deleted SA: 192.0.2.1[500]-198.51.100.7[500] '
    'SPI:0xC6E9E0C1/0x9D3B5C7E.",1234,0x0,0,0,0,0,,PA-VM'
)


def test_panos_csv_syslog_keeps_its_fields_and_gives_its_host_as_the_device() -> None:
    frame = read_frame(PANOS.encode(), SOURCE)
    assert frame.line.startswith("Nov 29 10:00:01: PA-VM 1,2026/11/29 10:00:01,007200001056,")
    events = parse_text(frame.line)
    assert [(e.kind, e.platform, e.peer, e.local, e.spi) for e in events] == [
        ("sa_deleted", "panos", "198.51.100.7", "192.0.2.1", "0x9D3B5C7E")
    ]
    assert events[0].time == "Nov 29 10:00:01"
    assert frame.device == "PA-VM"  # untagged lines name no device to the recogniser


def test_panos_cant_find_sa_relayed_keeps_the_peerless_event() -> None:
    message = next(c for c in corpus() if "can't find sa" in c["line"])["line"]
    frame = read_frame(f"<14>Nov 29 10:00:01 pa-edge ikemgr: {message}".encode(), SOURCE)
    (event,) = parse_text(frame.line)
    assert (event.kind, event.spi, frame.device) == ("invalid_spi", "0xD6A1C300", "pa-edge")
    assert message in frame.line


# --- the RFCs' own examples ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "device", "stamp", "text"),
    [
        (  # RFC 3164 section 5.4, example 1
            b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
            "mymachine",
            "Oct 11 22:14:15",
            "'su root' failed for lonvick on /dev/pts/8",
        ),
        (  # RFC 5424 section 6.5, example 1 (with the BOM)
            b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
            b"\xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8",
            "mymachine.example.com",
            "2003-10-11T22:14:15.003Z",
            "'su root' failed for lonvick on /dev/pts/8",
        ),
        (  # example 2: no structured data, no BOM
            b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
            b"%% It's time to make the do-nuts.",
            "192.0.2.1",
            "2003-08-24T05:14:15.000003-07:00",
            "%% It's time to make the do-nuts.",
        ),
        (  # example 3
            b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
            b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
            b"\xef\xbb\xbfAn application event log entry...",
            "mymachine.example.com",
            "2003-10-11T22:14:15.003Z",
            "An application event log entry...",
        ),
        (  # example 4: structured data and no message at all
            b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
            b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
            b'[examplePriority@32473 class="high"]',
            "mymachine.example.com",
            "2003-10-11T22:14:15.003Z",
            "",
        ),
    ],
)
def test_the_rfc_examples_read_their_host_time_and_message(frame, device, stamp, text) -> None:
    read = read_frame(frame, SOURCE)
    assert (read.device, read.time) == (device, stamp)
    assert read.line.endswith(text)
    assert "ID47" not in read.line and "exampleSDID" not in read.line


# --- what is not a log line -----------------------------------------------------------------

IOS_FRAME = f"<189>45: *Nov 29 10:00:01.123: {REAL[0][0]}".encode()


@pytest.mark.parametrize(
    "frame",
    [
        b"<13>abc\x00def",
        IOS_FRAME + b"\x00",
        bytes(range(256)) * 4,
        b"\x89PNG\r\n\x1a\n" + bytes(200),
        b"\xff\xfe\xfd\xfc" * 100,
    ],
    ids=["NUL", "NUL after a real line", "every byte", "PNG", "not UTF-8 at all"],
)
def test_binary_is_not_text(frame: bytes) -> None:
    assert to_line(frame, SOURCE) is None
    assert read_frame(frame, SOURCE) is None


def test_a_few_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    # Latin-1 in a description (an interface named "Büro"): the line is still read.
    line = to_line(IOS_FRAME + b", input interface=B\xfcro", SOURCE)
    assert "B\ufffdro" in line
    assert _event(line).spi == REAL[0][1]["spi"]


def test_line_breaks_and_tabs_inside_a_frame_make_one_line() -> None:
    line = to_line(IOS_FRAME.replace(b"decaps:", b"decaps:\n\t\r"), SOURCE)
    assert "\n" not in line and "\t" not in line and "\r" not in line
    assert _event(line).peer == REAL[0][1]["peer"]


def test_an_empty_or_blank_frame_is_an_empty_line() -> None:
    assert to_line(b"", SOURCE) == SOURCE
    assert parse_text(to_line(b"<13>   ", SOURCE)) == []


# --- linear time on adversarial frames -------------------------------------------------------

MB = 1 << 20
BOUND_SECONDS = 2.0  # each is ~0.05 s here; a quadratic path on 1 MB takes minutes


@pytest.mark.slow
@pytest.mark.parametrize(
    "frame",
    [
        b"<" * MB,
        b"9" * MB,
        b" " * MB,
        b"<13>" + b"Nov 29 " * (MB // 7),
        b"<13>1 - - - - - " + b"[" * MB,
        b'<13>1 - - - - - [a b="' + b"\\" * MB,
        b"<13>1 - - - - - [a" + b' b=""' * (MB // 5),
        b"<13>Nov 29 10:00:01 " + b"a:" * (MB // 2) + IOS_FRAME,
        b"<13>Nov 29 10:00:01 host " + b"a" * MB + b"[" + b"1" * MB,
        b"<189>45: " + b"*Nov 29 10:00:01.123: " * (MB // 22) + IOS_FRAME[9:],
        b"<189>" + b" " * MB + b"!" + IOS_FRAME[5:],
        b"\xff" * MB,
    ],
    ids=[
        "<",
        "digits",
        "spaces",
        "months",
        "SD [",
        "SD backslashes",
        "SD params",
        "app tags",
        "host then [",
        "stamps",
        "spaces before a tag",
        "not UTF-8",
    ],
)
def test_adversarial_frames_take_linear_time(frame: bytes) -> None:
    start = time.perf_counter()
    to_line(frame, SOURCE)
    took = time.perf_counter() - start
    assert took < BOUND_SECONDS, f"{took:.2f} s on {len(frame):,} bytes"


# --- what relays make of router frames (rsyslog 8.2302's output, captured) -------------------

ASA_TEXT = (
    "IPSEC: Received an ESP packet (SPI= 0xDEADBEEF, sequence number= 0x1A) from 198.51.100.7 "
    "to 192.0.2.1 with an invalid SPI."
)


@pytest.mark.parametrize(
    ("frame", "device", "spi"),
    [
        (  # RSYSLOG_SyslogProtocol23Format: the ASA's tag became the APP-NAME
            f"<164>1 2026-11-29T10:00:01+00:00 localhost %ASA-4-402114 - - -  {ASA_TEXT}",
            "localhost",
            "0xDEADBEEF",
        ),
        (  # RSYSLOG_ForwardFormat of logger --rfc5424: the APP-NAME without its colon
            f"<13>2026-11-29T22:03:50.921749+00:00 vm ios {REAL[0][0]}",
            "vm",
            REAL[0][1]["spi"],
        ),
        (  # RSYSLOG_SyslogProtocol23Format of IOS: the sequence number became the APP-NAME
            f"<189>1 2026-11-29T22:03:49.465770+00:00 localhost 45 - - -  "
            f"*Nov 29 10:00:01.123: {REAL[0][0]}",
            "localhost",
            REAL[0][1]["spi"],
        ),
    ],
)
def test_relayed_frames_keep_their_tag_and_device(frame: str, device: str, spi: str) -> None:
    event = _event(to_line(frame.encode(), "127.0.0.1"))
    assert (event.device, event.spi) == (device, spi)
