"""Input limits: a line cap, a paste cap, a group cap and flat memory, each said out loud."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kb.diagnose import MAX_PASTE_CHARS, diagnose, diagnose_first
from kb.events import _canonical_ip, canonical_ip
from kb.groups import MAX_GROUPS, Grouper
from kb.scan import MAX_LINE_CHARS, ScanStats, parse_text, scan
from tests.conftest import CLEAN_ENV, SPIBOT, spibot


def ios(spi: int) -> str:
    return (
        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
        f"destaddr=192.0.2.1, prot=50, spi=0x{spi:08X}({spi}), srcaddr=198.51.100.7"
    )


IOS = ios(0x5A3D1F2C)
LONG = IOS + " " + "x" * 10_000  # recognisable from its head, far over the line cap


def test_an_over_long_line_is_cut_counted_and_still_recognised_from_its_head() -> None:
    stats = ScanStats()
    events = list(scan([f"{LONG}\n{IOS}\n{LONG}\n".encode()], stats))
    assert [(e.line, e.peer) for e in events] == [(n, "198.51.100.7") for n in (1, 2, 3)]
    assert len(events[0].text) == MAX_LINE_CHARS
    assert stats.cut_lines == 2
    assert stats.warnings() == ["2 lines longer than 4,096 characters were cut before recognition"]


def test_a_line_of_multibyte_characters_is_cut_by_characters_not_bytes() -> None:
    stats = ScanStats()
    [event] = scan([(IOS + " " + "é" * 3000 + "\n").encode()], stats)  # 6,000 bytes
    assert stats.cut_lines == 0 and event.text.endswith("é")
    stats = ScanStats()
    [event] = scan([(IOS + " " + "€" * 5000 + "\n").encode()], stats)
    assert stats.cut_lines == 1 and len(event.text) == MAX_LINE_CHARS
    assert stats.undecodable == 0


def test_a_line_longer_than_a_chunk_is_cut_without_being_held() -> None:
    stats = ScanStats()
    chunks = [IOS.encode() + b" "] + [b"y" * 1000] * 500 + [b"\n", IOS.encode()]
    events = list(scan(chunks, stats))
    assert [(e.line, e.peer) for e in events] == [(1, "198.51.100.7"), (2, "198.51.100.7")]
    assert stats.cut_lines == 1 and stats.lines == 2


def test_diagnosis_warns_of_cut_lines_even_when_nothing_is_found() -> None:
    result = diagnose("%CRYPTO-4-RECVD_PKT_INV_SPI: " + "x" * 5000, None)
    assert not result.found
    assert result.warnings == ["1 line longer than 4,096 characters was cut before recognition"]


def test_a_text_paste_is_read_up_to_the_cap_and_says_how_much() -> None:
    filler = "%SYS-5-CONFIG_I: Configured from console by admin on vty0\n"
    paste = IOS + "\n" + filler * (MAX_PASTE_CHARS // len(filler) + 100) + ios(0x1) + "\n"
    result = diagnose(paste, None)
    assert [e.spi for e in result.events] == ["0x5A3D1F2C"]
    [warning] = result.warnings
    read = int(warning.split()[3].replace(",", ""))
    assert MAX_PASTE_CHARS - len(filler) < read <= MAX_PASTE_CHARS
    assert warning == (
        f"read the first {read:,} of {len(paste):,} characters; "
        "the rest of the paste was not analysed"
    )
    small = diagnose(IOS + "\n" + ios(0x1), None, max_chars=len(IOS) + 10)
    assert [e.spi for e in small.events] == ["0x5A3D1F2C"]


def test_a_file_is_read_whole_whatever_its_size() -> None:
    filler = b"%SYS-5-CONFIG_I: Configured from console by admin on vty0\n" * 20_000
    result = diagnose([IOS.encode() + b"\n", filler, ios(0x1).encode() + b"\n"], None)
    assert [e.spi for e in result.events] == ["0x5A3D1F2C", "0x00000001"]
    assert result.warnings == []


def test_groups_beyond_the_cap_are_counted_not_kept() -> None:
    grouper = Grouper(max_groups=3)
    for event in parse_text("\n".join(ios(spi) for spi in (1, 2, 3, 4, 5, 1))):
        grouper.add(event)
    assert [g.spi for g in grouper.groups()] == ["0x00000001", "0x00000002", "0x00000003"]
    assert grouper.groups()[0].count == 2 and grouper.ungrouped == 2


def test_diagnosis_warns_when_groups_overflow() -> None:
    paste = "".join(ios(spi) + "\n" for spi in range(MAX_GROUPS + 5))
    result = diagnose([paste.encode()], None)
    assert len(result.groups) == MAX_GROUPS
    assert result.warnings[-1] == (
        "more than 10,000 distinct device, peer and SPI combinations: "
        "5 invalid-SPI line(s) of the others were not grouped"
    )


def test_text_longer_than_an_address_is_never_cached() -> None:
    before = _canonical_ip.cache_info().currsize
    assert canonical_ip("1" * 10_000) is None and canonical_ip("1." * 5000) is None
    assert _canonical_ip.cache_info().currsize == before
    assert canonical_ip("[2001:db8::1]") == "2001:db8::1"


def test_diagnose_first_reads_each_text_once_and_picks_the_first_with_events(
    monkeypatch,
) -> None:
    import kb.diagnose

    read = []
    real = kb.diagnose.scan_batches
    monkeypatch.setattr(
        kb.diagnose, "scan_batches", lambda chunks, stats: real(read.append(1) or chunks, stats)
    )
    assert diagnose_first(["hello", "", "%SYS-5-CONFIG_I: x"], None) is None
    assert len(read) == 2  # the empty text is not read at all
    read.clear()
    result = diagnose_first(["no log here", IOS, ios(0x1)], None)
    assert result is not None and result.found and result.events[0].spi == "0x5A3D1F2C"
    assert len(read) == 2  # the third text is never read
    context_only = "%CRYPTO-4-IKMP_NO_SA: IKE message from 198.51.100.7 has no SA"
    result = diagnose_first([context_only, IOS], None)
    assert result.recognised and not result.found


def peak(args: list[str], tmp_path: Path) -> tuple[int, int, str, str]:
    """Exit code, peak RSS in KiB, standard output and standard error of `spibot ARGS`,
    measured alone: RUSAGE_CHILDREN of a fresh wrapper process."""
    probe = (
        "import resource, subprocess, sys;"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE);"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        "sys.stdout.write(r.stdout.decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *SPIBOT, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=CLEAN_ENV,
    )
    head, _, body = result.stdout.partition("\n")
    code, peak_kib = map(int, head.split())
    return code, peak_kib, body, result.stderr


def test_200_megabytes_without_a_newline_stream_in_flat_memory(tmp_path: Path) -> None:
    big = tmp_path / "one-line.log"
    block = "x" * 1_000_000
    with big.open("w") as f:
        f.write(IOS + " ")
        for _ in range(200):
            f.write(block)
        f.write("\n" + ios(0x1) + "\n")
    db = str(tmp_path / "kb.db")
    code, peak_kib, out, _ = peak(
        ["diagnose", "--json", "--no-record", "--db", db, str(big)], tmp_path
    )
    assert code == 0
    doc = json.loads(out)
    assert [(e["line"], e["spi"]) for e in doc["events"]] == [(1, "0x5A3D1F2C"), (2, "0x00000001")]
    assert doc["warnings"] == ["1 line longer than 4,096 characters was cut before recognition"]
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib} KiB: the line was held whole"


def test_150_000_distinct_spis_keep_memory_flat(tmp_path: Path) -> None:
    # One group per SPI took 845 MB for 1.2 million SPIs; 150,000 took 630 MB with --json.
    log = tmp_path / "many-spis.log"
    with log.open("w") as f:
        for start in range(0, 150_000, 10_000):
            f.write("".join(ios(spi) + "\n" for spi in range(start, start + 10_000)))
    db = str(tmp_path / "kb.db")
    code, peak_kib, out, err = peak(["diagnose", "--no-record", "--db", db, str(log)], tmp_path)
    assert code == 0
    assert "\n150000 invalid-SPI line(s)" in out
    assert "warning:" not in out  # on standard error, before the answer
    assert err.rstrip().endswith(
        "warning: more than 10,000 distinct device, peer and SPI combinations: "
        "140,000 invalid-SPI line(s) of the others were not grouped"
    )
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib} KiB: one group per SPI"


def test_parse_says_when_a_line_was_cut(tmp_path) -> None:
    line = (
        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
        "destaddr=192.0.2.1, prot=50, spi=0x5A3D1F2C(1513955116), srcaddr=198.51.100.7"
    )
    result = spibot("parse", "-", stdin=line + " " + "x" * 10_000 + "\n")
    assert result.returncode == 0
    assert "198.51.100.7" in result.stdout
    assert "1 line longer than 4,096 characters was cut before recognition" in result.stderr
