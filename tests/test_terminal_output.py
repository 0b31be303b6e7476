"""What the terminal doors print: never a live control sequence, folded to the terminal's width
without cutting an address, an SPI or a command, warnings first on standard error, and never a
negative time."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text import Code, Kept, cells, fold
from kb.stamps import duration
from tests.conftest import CLEAN_ENV, PASTES, SPIBOT, spibot

HOSTILE_NOTE = "cleared SAs\x1b[2J\x1b]0;owned\x07 on the hub\rFAKE LINE\x9b31m"
CONTROLS = ("\x1b", "\x07", "\r", "\x9b")
IPV6 = "2001:db8:85a3::8a2e:370:7334"
ADDRESS = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}\b")
SPI = re.compile(r"\b0x[0-9A-F]{8}\b")
# The test process's own terminal must not decide the width of the child's output.
NO_WIDTH_ENV = {k: v for k, v in CLEAN_ENV.items() if k not in ("COLUMNS", "LINES")}
LONG_LINE = (
    "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.1, prot=50, spi=0x5A3D1F2C(1513955116), srcaddr=198.51.100.7 "
    + "x" * 5000
    + "\n"
)


def test_notes_and_queries_print_without_control_sequences(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    added = spibot("note", "add", HOSTILE_NOTE, "--peer", "198.51.100.7", "--db", db)
    assert added.returncode == 0, added.stderr
    for args in (
        ("lookup", "198.51.100.7"),
        ("incidents",),
        ("incidents", "--peer", "198.51.100.7"),
        ("lookup", "\x1b]0;title\x07 hub"),
    ):
        result = spibot(*args, "--db", db)
        assert result.returncode == 0, (args, result.stderr)
        assert not any(c in result.stdout for c in CONTROLS), args
    shown = spibot("lookup", "198.51.100.7", "--db", db).stdout
    assert "cleared SAs" in shown and "on the hub" in shown and "FAKE LINE" in shown
    # --json keeps the note exactly as written: JSON escapes it, nothing is lost.
    exact = spibot("lookup", "198.51.100.7", "--json", "--db", db).stdout
    assert "\\u001b[2J" in exact


# --- fold: the pure wrapping function ------------------------------------------------------


def _words(lines: list[str]) -> list[str]:
    return " ".join(lines).split()


def test_no_width_and_lines_that_fit_are_left_alone() -> None:
    line = "     +3.0 the same SPI 0x5A3D1F2C from 198.51.100.7 was logged 6 times  (twice)"
    assert fold(line, None) == [line]
    assert fold(line, len(line)) == [line]


def test_a_reason_wraps_with_a_hanging_indent_under_its_text() -> None:
    line = (
        "     +3.0 the same SPI 0x5A3D1F2C from 198.51.100.7 was logged 6 times over 5m 02s "
        "(a rekey race does not repeat; IOS logs this at most once a minute)"
    )
    out = fold(line, 50)
    assert len(out) > 2 and all(len(part) <= 50 for part in out)
    assert out[0].startswith("     +3.0 the same")
    assert all(part.startswith(" " * 10) and part[10] != " " for part in out[1:])
    assert _words(out) == line.split()


def test_a_ten_thousand_character_reason_wraps_whole_and_in_order() -> None:
    words = [f"word{n}" for n in range(1500)]
    words[700] = "198.51.100.7"
    words[701] = IPV6
    line = "   Caveat: " + " ".join(words)
    assert len(line) > 10_000
    out = fold(line, 72)
    assert all(len(part) <= 72 for part in out)
    assert _words(out) == line.split()
    assert all(part.startswith(" " * 11) for part in out[1:])  # under the caveat's text


def test_a_word_wider_than_the_terminal_is_shown_whole_not_cut() -> None:
    blob = "A" * 10_000
    out = fold(f"     +0.5 starts {blob} ends", 60)
    assert out == ["     +0.5 starts", " " * 10 + blob, " " * 10 + "ends"]


def test_an_address_or_spi_at_the_wrap_point_is_never_split() -> None:
    # Slide each token across the edge of a 40-column line: it is always on one line, whole.
    for token in (IPV6, "198.51.100.7", "0x5A3D1F2C", "[2001:db8::1]:4500"):
        for pad in range(1, 45):
            line = "warning: " + "x" * pad + " peer " + token + " then more words after it"
            out = fold(line, 40)
            assert sum(part.count(token) for part in out) == 1, (token, pad, out)
            assert _words(out) == line.split()
            assert all(len(part) <= 40 or len(part.split()) == 1 for part in out)  # x * 44


def test_a_command_in_a_sentence_stays_on_one_line() -> None:
    command = "show crypto ipsec sa peer 2001:db8::7"
    asked = Kept(f"To confirm: on this box (192.0.2.1): {command} — paste the output here", command)
    inline = f"   What would decide it: on this box run `{command}` and compare the times"
    for line in (asked, inline):
        for width in range(20, len(line)):
            out = fold(line, width)
            assert any(command in part for part in out), (width, out)
            assert _words(out) == line.split()


def test_code_lines_are_never_wrapped() -> None:
    command = Code("     permit udp host 2001:db8::7 host 2001:db8::1 eq non500-isakmp")
    assert fold(command, 30) == [command]


def test_wide_characters_count_two_columns_and_marks_none() -> None:
    assert cells("漢字") == 4 and cells("e\u0301") == 1 and cells("ab") == 2
    line = "note: " + " ".join(["接続が切れた", "198.51.100.7", "トンネル"] * 20)
    out = fold(line, 30)
    assert all(cells(part) <= 30 for part in out)
    assert any(len(part) < cells(part) for part in out)  # measured in columns, not characters
    assert _words(out) == line.split()


@pytest.mark.slow  # a hundred examples
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["198.51.100.7", IPV6, "0x5A3D1F2C", "`clear crypto sa`", "—"]),
            st.text(st.characters(blacklist_characters=" `", codec="utf-8"), min_size=1),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(20, 120),
)
def test_folding_loses_and_reorders_nothing(words: list[str], width: int) -> None:
    line = "     +1.0 " + " ".join(words)
    out = fold(line, width)
    assert " ".join(out).split() == line.split()
    for part in out:
        # Over the width only when the line holds one word it could not break.
        assert cells(part) <= width or part.strip(" ") in words


# --- duration ------------------------------------------------------------------------------


def test_a_duration_is_never_negative() -> None:
    assert duration(302) == "5m 02s" and duration(None) == "an unknown time"
    assert duration(-0.4) == "0s"  # merged collectors' jitter
    for backwards in (-5, -0.6, -86_395):  # unordered lines, a midnight rollover
        said = duration(backwards)
        assert "-" not in said and "unknown" in said and "backwards" in said
    assert duration(float("nan")) == duration(float("inf")) == "an unknown time"


# --- the CLI at a width --------------------------------------------------------------------


def run(
    *args: str, stdin: str | None = None, columns: int | None = None, merged: bool = False
) -> subprocess.CompletedProcess:
    """`spibot ARGS` with standard output a pipe and COLUMNS as given (none: unset, whatever
    the terminal running the tests exports); `merged`: both streams into one pipe, in the
    order written, as a person at a terminal reads them."""
    env = NO_WIDTH_ENV if columns is None else {**NO_WIDTH_ENV, "COLUMNS": str(columns)}
    return subprocess.run(
        [*SPIBOT, *args],
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        timeout=120,
        env=env,
    )


def _diagnose(tmp_path: Path, columns: int | None, *files: str) -> str:
    result = run(
        "diagnose", "--no-record", "--db", str(tmp_path / "kb.db"), *files, columns=columns
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_diagnose_folds_to_columns_without_cutting_anything(tmp_path: Path) -> None:
    paste = str(PASTES / "out-of-sync.txt")
    whole = _diagnose(tmp_path, None, paste)
    for columns in (60, 100):
        folded = _diagnose(tmp_path, columns, paste)
        assert folded.split() == whole.split()  # same words, same order
        assert ADDRESS.findall(folded) == ADDRESS.findall(whole)
        assert SPI.findall(folded) == SPI.findall(whole)
        unwrapped = set(whole.splitlines())
        for line in folded.splitlines():
            assert cells(line) <= columns or line in unwrapped, line
    narrow = _diagnose(tmp_path, 60, paste).splitlines()
    # A command wider than the terminal is shown whole, not broken.
    assert "     permit udp host 198.51.100.7 host 192.0.2.1 eq non500-isakmp" in narrow
    assert "     clear crypto sa peer 192.0.2.1" in narrow
    assert any(line.startswith(" " * 10) and "rekey race does not" in line for line in narrow)


def test_piped_output_is_not_folded(tmp_path: Path) -> None:
    out = _diagnose(tmp_path, None, str(PASTES / "out-of-sync.txt")).splitlines()
    # One reason a line, for grep, however long.
    assert any(
        len(line) > 120 and "logged 6 times over 5m 02s" in line and "once a minute" in line
        for line in out
    )


def test_a_terminal_gets_output_folded_to_its_width(tmp_path: Path) -> None:
    paste = PASTES / "out-of-sync.txt"
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 72, 0, 0))
    try:
        process = subprocess.Popen(
            [*SPIBOT, "diagnose", "--no-record", "--db", str(tmp_path / "kb.db"), str(paste)],
            stdout=secondary,
            stderr=subprocess.PIPE,
            env=NO_WIDTH_ENV,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=120) == 0
    finally:
        os.close(primary)
    lines = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    assert lines[0].startswith("6 invalid-SPI line(s)")
    assert [line for line in lines if cells(line) > 72] == []
    assert any(line.startswith(" " * 10) for line in lines)  # a reason's continuation


def test_warnings_come_first_on_standard_error_and_json_stays_pure(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    result = run("diagnose", "--json", "--no-record", "--db", db, "-", stdin=LONG_LINE)
    assert result.returncode == 0
    doc = json.loads(result.stdout)  # standard output is JSON and nothing else
    said = "1 line longer than 4,096 characters was cut before recognition"
    assert doc["warnings"] == [said]
    assert result.stderr.strip() == f"warning: {said}"
    # Both streams on one terminal: the warning is read before the answer.
    both = run("diagnose", "--no-record", "--db", db, "-", stdin=LONG_LINE, merged=True)
    assert both.returncode == 0
    first, second = both.stdout.splitlines()[:2]
    assert first == f"warning: {said}" and second.startswith("1 invalid-SPI line(s)")
    assert both.stdout.count("warning:") == 1


def test_a_paste_without_invalid_spi_lines_still_warns_on_standard_error(tmp_path: Path) -> None:
    cut = "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for\n"
    result = run("diagnose", "--no-record", "--db", str(tmp_path / "kb.db"), "-", stdin=cut)
    assert "warning:" not in result.stdout and "ends after 'has invalid spi'" in result.stderr


def test_incidents_and_lookup_fold_notes_without_cutting_addresses(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    note = "cleared the SAs on " + IPV6 + " and 198.51.100.7; " + "the tunnel came back " * 6
    assert spibot("note", "add", note, "--peer", "198.51.100.7", "--db", db).returncode == 0
    for args in (("incidents",), ("lookup", "198.51.100.7")):
        out = run(*args, "--db", db, columns=50).stdout
        lines = out.splitlines()
        assert all(cells(line) <= 50 for line in lines), lines
        assert any(IPV6 in line for line in lines) and any("198.51.100.7;" in ln for ln in lines)
        assert " ".join(out.split()).count("the tunnel came back") == 6
