"""`spibot parse` as a user runs it: real process, real files, real exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kb.scan import ScanStats, scan
from tests.conftest import CLEAN_ENV, PASTES, SPIBOT, spibot

IOS = (
    "Mar  3 09:14:02.113: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid "
    "spi for destaddr=192.0.2.1, prot=50, spi=0x0BADF00D(195948557), srcaddr=198.51.100.7\n"
)


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return spibot(*args, stdin=stdin, text=False)


def test_table_lists_events_and_groups() -> None:
    result = run("parse", str(PASTES / "out-of-sync.txt"))
    out = result.stdout.decode()
    assert result.returncode == 0
    assert out.count("invalid_spi ") == 6 and "ike_no_sa" in out
    assert "198.51.100.7 -> 192.0.2.1, 0x5A3D1F2C: 6 times" in out
    assert "disagree" not in out and result.stderr == b""  # the example is a clean paste


def test_a_decimal_spi_that_disagrees_with_its_hex_is_flagged_under_its_row() -> None:
    edited = IOS.replace("(195948557)", "(195948558)")
    out = run("parse", "-", stdin=edited.encode()).stdout.decode().splitlines()
    assert out[1].startswith("1      invalid_spi")
    assert out[2].startswith("       ! SPI hex 0x0BADF00D and decimal 195948558 disagree")


def test_every_bundled_example_has_consistent_spis() -> None:
    # The first thing a new user runs; "edited or corrupted" there would be the first answer.
    examples = sorted(PASTES.glob("*.txt"))
    assert len(examples) >= 3
    for example in examples:
        stats = ScanStats()
        events = list(scan([example.read_bytes()], stats))
        assert [e for e in events if e.kind == "invalid_spi"], example.name
        assert {e.spi_consistent for e in events} <= {True, None}, example.name
        assert [p for e in events for p in e.problems] == [], example.name
        assert stats.warnings() == [], example.name


def test_a_log_whose_clock_goes_backwards_shows_no_negative_time(tmp_path: Path) -> None:
    later = IOS.replace("09:14:02.113", "09:14:07.113")
    result = run("parse", "-", stdin=(later + IOS + IOS).encode())
    out = result.stdout.decode()
    assert "0x0BADF00D: 3 times, Mar  3 09:14:07.113 .. Mar  3 09:14:02.113" in out
    assert "(an unknown time, the timestamps going backwards)" in out
    assert not re.search(r"-\d+s\b|-\d+m\b", out)
    db = str(tmp_path / "kb.db")
    diagnosis = spibot("diagnose", "--no-record", "--db", db, "-", stdin=later + IOS + IOS)
    assert diagnosis.returncode == 0, diagnosis.stderr
    assert "over an unknown time, the timestamps going backwards" in diagnosis.stdout
    assert not re.search(r"-\d+s\b|-\d+m\b", diagnosis.stdout)


def test_folded_table_keeps_rows_whole_and_wraps_the_groups() -> None:
    result = spibot("parse", str(PASTES / "out-of-sync.txt"), env={"COLUMNS": "60"})
    lines = result.stdout.splitlines()
    rows = [line for line in lines if "invalid_spi " in line]
    assert len(rows) == 6 and all(len(row) > 60 for row in rows)  # a row is read by its columns
    group = lines.index("  198.51.100.7 -> 192.0.2.1, 0x5A3D1F2C: 6 times, Mar  3")
    assert lines[group + 1] == "      09:14:02.113 .. Mar  3 09:19:03.689 (5m 02s)"


def test_json_has_the_design_shape() -> None:
    result = run("parse", "--json", str(PASTES / "ha-failover.txt"))
    doc = json.loads(result.stdout)
    assert [e["kind"] for e in doc["events"]] == [
        "ha_failover",
        "invalid_spi",
        "delete_notify_no_sa",
    ]
    keys = {"kind", "platform", "tag", "peer", "local", "spi", "spi_decimal", "spi_consistent"}
    keys |= {"protocol", "interface", "device", "time", "line"}
    assert keys <= set(doc["events"][1])
    assert doc["groups"][0]["peer"] == "203.0.113.77" and doc["groups"][0]["count"] == 1


@pytest.mark.parametrize("args", [("parse", "-"), ("parse",)])
def test_reads_standard_input(args: tuple[str, ...]) -> None:
    result = run(*args, "--json", stdin=IOS.encode())
    assert result.returncode == 0
    assert json.loads(result.stdout)["events"][0]["peer"] == "198.51.100.7"


def test_empty_paste_is_a_clean_empty_result() -> None:
    result = run("parse", "--json", stdin=b"")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"events": [], "groups": [], "state": []}


def test_binary_file_is_refused_clearly(tmp_path: Path) -> None:
    blob = tmp_path / "capture.pcap"
    blob.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(range(256)) * 64)
    result = run("parse", str(blob))
    assert result.returncode == 3
    assert b"binary file" in result.stderr and b"Traceback" not in result.stderr


def test_invalid_utf8_keeps_the_good_lines(tmp_path: Path) -> None:
    log = tmp_path / "latin1.log"
    log.write_bytes(
        IOS.replace("rec'd", "rec\x92d").encode("latin-1") + b"\xff\xfe junk\n" + IOS.encode()
    )
    result = run("parse", "--json", str(log))
    assert result.returncode == 0
    assert len(json.loads(result.stdout)["events"]) == 2
    assert b"not valid UTF-8" in result.stderr


def test_missing_file_is_a_usage_error() -> None:
    result = run("parse", "/nonexistent/spibot.log")
    assert result.returncode == 2 and b"cannot read" in result.stderr


def test_help_documents_exit_codes() -> None:
    out = run("parse", "--help").stdout.decode()
    assert "Exit codes" in out and "binary" in out


def test_200_megabyte_file_streams_in_flat_memory(tmp_path: Path) -> None:
    block = (
        "Mar  3 09:14:02.113: %LINEPROTO-5-UPDOWN: Line protocol on Interface "
        "GigabitEthernet0/1, changed state to up\n"
    ) * 8000
    big = tmp_path / "big.log"
    lines = 1
    with big.open("w") as f:
        f.write(IOS)
        while f.tell() < 200_000_000:
            f.write(block)
            lines += 8000
        f.write(IOS)
    # Measure the child alone: RUSAGE_CHILDREN of a fresh wrapper process.
    probe = (
        "import resource, subprocess, sys;"
        "r = subprocess.run(sys.argv[1:], capture_output=True);"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        "sys.stdout.write(r.stdout.decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *SPIBOT, "parse", "--json", str(big)],
        capture_output=True,
        text=True,
        timeout=300,
        env=CLEAN_ENV,
    )
    head, _, body = result.stdout.partition("\n")
    code, peak_kib = map(int, head.split())
    assert code == 0
    events = json.loads(body)["events"]
    assert [e["line"] for e in events] == [1, lines + 1]
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib} KiB: not streaming"
