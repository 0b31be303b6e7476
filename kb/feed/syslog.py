"""One syslog frame, as a router or a relay sent it, turned into one log line that the
recogniser (kb.scan, kb/formats.py, kb/stamps.py) reads with the right time and device.

Pure: no I/O, no clock. The frames it reads:

    <189>45: *Nov 29 10:00:01.123: %CRYPTO-4-...          IOS: no syslog header at all
    <189>45: hub1: *Nov 29 10:00:01.123: %CRYPTO-4-...    IOS with `logging origin-id`
    <164>Nov 29 2026 10:00:01 asa1 : %ASA-4-402114: ...   ASA with `logging device-id`
    <164>Nov 29 2026 10:00:01: %ASA-4-402114: ...         ASA without it
    <13>Nov 29 10:00:01 host app[12]: text                RFC 3164 (logger, rsyslog, syslog-ng)
    <189>2026-11-29T10:00:01.1+00:00 host app: text       RFC 3164 with an RFC 3339 time
    <189>1 2026-11-29T10:00:01Z host app - - [sd] BOMtext RFC 5424
    <189>date=2026-11-29 time=10:00:01 devname="fw1" ...  FortiGate key=value
    <14>Nov 29 10:00:01 PA-VM 1,2026/11/29 10:00:01,...   PAN-OS CSV

The device is the name the message itself prints (origin-id, ASA device-id), else the frame's
HOSTNAME, else `source` (the sender's address). The time is the router's own stamp in the
message when it has one (that is what a paste would show), else the syslog header's.

The recogniser reads the device only from the framing in front of a %TAG. Rather than teach
kb/stamps.py new forms, the line is framed the way it already reads ("ISO-TIME HOST ...",
"Mmm dd hh:mm:ss: HOST %TAG", ...): the framings that fit are tried in order and the first that
kb.stamps.read_prefix reads back with the intended time and device is kept. Lines without a
tag (FortiGate, PAN-OS, debugs) get their device from their own fields or not at all, so
`read_frame` also returns the device for the caller to fill in.

Not text: a frame holding a NUL byte, or one where more than a quarter of the characters are
control characters or bytes that are not UTF-8, is None. Otherwise bytes that are not UTF-8
become U+FFFD, and control characters (an LF inside an octet-counted frame, a tab) become
spaces, so that the result is always one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.formats import TAG
from kb.stamps import read_prefix

# A quarter of the characters unreadable or control characters: binary, not a log line.
_JUNK_SHARE = 4
_CONTROLS = {c: " " for c in (*range(32), 127)}
_DROP_CONTROLS = {c: None for c in (*range(9), *range(10, 32), 127)}
_CONTROL_BYTE = re.compile(rb"[\x00-\x1f\x7f]")
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)?"
_PRI = re.compile(r"<(\d{1,3})>")
# RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG].
# Every run is possessive and stops at the space after it: linear.
_RFC5424 = re.compile(
    rf"[1-9]\d? (?:-|(?P<iso>{_RFC3339})) (?P<host>\S++) (?P<app>\S++) \S++ \S++ "
    # SD is "-" or SD-ELEMENTs: [ID PARAM="value" ...], a value escaping \" \] \\.
    r"(?:-|(?:\[[^\]\s\"=]++(?:\s++[^\]\s\"=]++=\"(?:[^\"\\]++|\\.)*+\")*+\s*+\])++)"
    r"(?: |$)"
)
# RFC 3164 TIMESTAMP ("Nov  2 10:00:01"; ASA adds the year), or RFC 3339 as relays send it.
# A header time is followed by a space or by ": " (ASA without device-id); anything else
# ("Nov 29 10:00:01.123: %CRYPTO", IOS's own stamp) is the message, not a header.
_RFC3164_TIME = re.compile(
    rf"(?:(?P<bsd>{_MON} ++\d{{1,2}}(?: \d{{4}})? \d\d:\d\d:\d\d)|(?P<iso>{_RFC3339}))"
    r"(?P<colon> ?:)?(?= )"
)
# HOSTNAME: a name or an address; ":" as IPv6 has it; not "%ASA-..." nor "app[12]:".
_HOST = re.compile(r"[A-Za-z0-9][\w.:-]*+")
# An RFC 3164 TAG ("sshd[12]: ", "root: ") before the message proper: dropped, or a
# recogniser would read it as the device. Digits alone are IOS's sequence number and a name
# followed by a time is IOS's origin-id: both are the router's own framing and stay.
# A relay converting RFC 5424 to RFC 3164 may leave the APP-NAME without its colon: a single
# word right before a %TAG, after the HOSTNAME, is that too.
_APP_TAG = re.compile(
    rf"[A-Za-z_][\w./-]{{0,47}}+(?:\[[^\]\s]{{0,32}}+\])?"
    rf"(?:: ++(?![*.]?(?:{_MON}|\d))| ++(?=%[A-Z]))"
)
# What the recogniser takes as a device name (kb/stamps.py's _HOST): an address or name that
# does not fit it (IPv6) cannot be written into the line.
_DEVICE = re.compile(r"[A-Za-z0-9][\w.-]*+")


@dataclass(frozen=True, slots=True)
class Frame:
    line: str  # the one line for the recogniser
    device: str  # who reported it: the name the message prints, the HOSTNAME, or the source
    time: str | None  # the syslog header's time, as sent (None: the frame has none)


def to_line(frame: bytes, source: str) -> str | None:
    """One syslog frame as one log line for kb.scan; None when the frame is not text."""
    read = read_frame(frame, source)
    return read.line if read is not None else None


def read_frame(frame: bytes, source: str) -> Frame | None:
    """The frame's line, device and header time; None when the frame is not text."""
    if frame.isascii() and _CONTROL_BYTE.search(frame) is None:
        text = frame.decode("ascii").strip()  # nearly every frame: no character to check
    else:
        if b"\x00" in frame:
            return None
        text = frame.decode("utf-8", "replace")
        junk = text.count("\ufffd") + len(text) - len(text.translate(_DROP_CONTROLS))
        if junk * _JUNK_SHARE > len(text):
            return None
        text = text.translate(_CONTROLS).strip()
    pos = 0
    pri = _PRI.match(text)
    if pri is not None:
        pos = pri.end()
    time, host, message = _header(text, pos)
    message = message.lstrip(" ").removeprefix("\ufeff").strip()
    device = host or source
    line, named = _framed(message, time, device)
    return Frame(line, named or device, time)


def _header(text: str, pos: int) -> tuple[str | None, str | None, str]:
    """(header time, HOSTNAME, message) of an RFC 5424 or RFC 3164 frame after its PRI."""
    m = _RFC5424.match(text, pos)
    if m is not None:
        host = m["host"] if m["host"] != "-" else None
        message = text[m.end() :]
        if m["app"].startswith("%") and TAG.fullmatch(m["app"]):
            # A relay's RFC 5424 output of an ASA message: the %ASA-4-402114 that began it
            # became the APP-NAME (rsyslog's RSYSLOG_SyslogProtocol23Format does this).
            message = f"{m['app']}: {message.lstrip(' ')}"
        return m["iso"], host, message
    m = _RFC3164_TIME.match(text, pos)
    if m is None:
        return None, None, text[pos:]  # IOS, FortiGate: the message alone
    time = m["bsd"] or m["iso"]
    pos = m.end() + 1
    if m["colon"]:
        return time, None, text[pos:]
    host = _HOST.match(text, pos)
    if host is None or (host.end() < len(text) and text[host.end()] != " "):
        return time, None, _without_app_tag(text[pos:])  # "Nov 29 10:00:01 sshd[12]: ..."
    name = host[0]
    if name.endswith(":") and name.count(":") == 1:
        name = name[:-1]  # "hub1: %CRYPTO": the host with a colon after it
    rest = text[host.end() :].lstrip(" ")
    if rest.startswith(":"):
        return time, name, rest[1:]  # ASA device-id: "asa1 : %ASA-..."
    return time, name, _without_app_tag(rest)


def _without_app_tag(message: str) -> str:
    tag = _APP_TAG.match(message)
    return message[tag.end() :] if tag is not None else message


def _framed(message: str, time: str | None, device: str) -> tuple[str, str | None]:
    """The line to hand the recogniser, and the device the message names itself, if any."""
    tag = TAG.search(message)
    injectable = _DEVICE.fullmatch(device) is not None
    if tag is None:
        # No tag: the recogniser reads no framing here, only the first time in the line; the
        # header stays for the reader. A colon ends an RFC 3164 time, or a host such as
        # "PA-VM" would be read as its time zone.
        if time and time[0].isalpha():
            time += ":"
        parts = (time, device if injectable else None, message)
        return " ".join(p for p in parts if p), None
    at = tag.start()
    own = message[:at]
    own_time, own_device = read_prefix(own) if own.strip() else (None, None)
    want_time = own_time or time
    rest = message[at:]
    if own_device:
        device = own_device
        candidates = [message] if own_time or not time else [f"{time} {message}"]
        if not own_time and time:
            candidates.append(f"{time}: {message}")
    elif injectable:
        own = f"{own.rstrip(' ')} " if own.strip() else ""
        candidates = []
        if own_time or not time:
            candidates.append(f"{own}{device} {rest}")
        if time:
            candidates += [f"{time} {device} {own}{rest}", f"{time}: {device} {own}{rest}"]
            candidates.append(f"{time}: {device} {rest}")  # the message's own framing unread
    else:
        candidates = [f"{time} {message}" if time and not own_time else message]
        device = None  # the caller has it in Frame.device; the line cannot carry it
    for line in candidates:
        got_time, got_device = read_prefix(line[: TAG.search(line).start()])
        if got_device == device and (got_time == want_time or want_time is None):
            return line, own_device
    return candidates[0], own_device
