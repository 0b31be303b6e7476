"""`spibot console` as a person uses it: pasted blocks, /spi forms, empty lines, Ctrl-D."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import console
from bot.console import NOTHING_FOUND, pastes
from kb.store import Store
from tests.conftest import PASTES, spibot

OUT_OF_SYNC = (PASTES / "out-of-sync.txt").read_text()


def test_pastes_end_at_empty_lines_and_spi_lines_stand_alone() -> None:
    typed = ["a 1\n", "a 2\n", "\n", "\n", "/spi help\n", "b 1\r\n", "/spi inside a paste\n"]
    assert list(pastes(typed)) == ["a 1\na 2", "/spi help", "b 1\n/spi inside a paste"]


def test_a_log_piped_without_empty_lines_is_read_in_bounded_pastes() -> None:
    lines = (f"line {n}\n" for n in range(10_000))
    found = list(pastes(lines, limit=1_000))
    assert len(found) > 50
    assert all(len(p) <= 1_100 for p in found)
    assert "\n".join(found).splitlines() == [f"line {n}" for n in range(10_000)]


def test_console_answers_pastes_and_spi_forms_from_piped_input(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    typed = "\n".join(
        [
            "hello team, anyone seen this?",
            "",
            OUT_OF_SYNC.strip(),
            "",
            "/spi note 198.51.100.7 cleared the SAs on the hub",
            "/spi 198.51.100.7",
            "/spi incidents",
            "",
            "",
            "/spi help",
        ]
    )
    result = spibot("console", "--db", db, stdin=typed + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "spibot console:" not in out  # the greeting is for a terminal, not a pipe
    assert out.index(NOTHING_FOUND) < out.index("sa-out-of-sync")
    assert "Note 1 added to incident #1 for 198.51.100.7" in out
    assert out.count("cleared the SAs on the hub") == 2  # the lookup and the incident list
    assert "/spi watch on|off" in out


def test_end_of_input_answers_the_unfinished_paste(tmp_path: Path) -> None:
    # Ctrl-D after the last line, without the empty line that usually ends a paste.
    result = spibot("console", "--db", str(tmp_path / "kb.db"), stdin=OUT_OF_SYNC.strip())
    assert result.returncode == 0
    assert "198.51.100.7" in result.stdout and "sa-out-of-sync" in result.stdout


def test_nothing_typed_is_nothing_answered(tmp_path: Path) -> None:
    for typed in ("", "\n\n\n"):
        result = spibot("console", "--db", str(tmp_path / "kb.db"), stdin=typed)
        assert (result.returncode, result.stdout) == (0, "")


def _state(line: str) -> bool:
    # The reader's markers, for these tests: its own tests say which lines hold state.
    return "show crypto" in line or "outbound spi" in line


STATE = [
    "hub#show crypto ipsec sa peer 198.51.100.7",
    "",
    "interface: GigabitEthernet0/0/0",
    "     current outbound spi: 0x9C4E2B71(2622368625)",
    "",
    "     inbound esp sas:",
    "      spi: 0x1F3B5D7A(523984250)",
    "",
    "",
    "     outbound ah sas:",
]


def test_a_state_paste_keeps_its_empty_lines_and_ends_at_a_dot() -> None:
    typed = ["a 1\n", "\n", *(f"{line}\n" for line in STATE), ".\n", "b 1\n", "\n", ".\n"]
    assert list(pastes(typed, holds_state=_state)) == ["a 1", "\n".join(STATE), "b 1"]
    # Piped without the dot: the end of input ends it.
    assert list(pastes([*STATE, ""], holds_state=_state)) == ["\n".join(STATE)]


def test_state_pasted_after_a_log_is_read_with_it_and_the_log_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "may_hold_state", _state)
    read: list[str] = []
    real = console.diagnose

    def diagnose(text, *args, **kw):
        read.append(text)
        return real(text, *args, **kw)

    monkeypatch.setattr(console, "diagnose", diagnose)
    typed = [OUT_OF_SYNC.strip(), "", *STATE, ".", "/spi help", *STATE, "."]
    out: list[str] = []
    with Store(tmp_path / "kb.db") as store:
        console.run(store, (f"{line}\n" for line in typed), out.append)
        (incident,) = store.incidents()
    log = OUT_OF_SYNC.strip()
    combined = [t for t in read if t.startswith(log) and t != log]
    with_state = log + "\n" + "\n".join(STATE)  # one input: the log, then the state
    assert combined == [with_state, with_state + "\n" + "\n".join(STATE)]
    assert all("sa-out-of-sync" in answer for answer in (out[0], out[1], out[3]))
    assert incident.event_count == log.count("RECVD_PKT_INV_SPI")  # the log counted once


def test_a_log_then_both_ends_state_is_confirmed(tmp_path: Path) -> None:
    from tests.test_slack_thread import LOG, RECEIVER_STATE, SENDER_STATE

    state = "\n".join(s.strip("`") for s in (RECEIVER_STATE, SENDER_STATE))
    typed = f"{LOG}\n\n{state}\n.\n"
    result = spibot("console", "--db", str(tmp_path / "kb.db"), stdin=typed)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split("3 invalid-SPI line(s) over")[1:]
    assert "[sa-out-of-sync, likely" in first and "To confirm:" in first
    assert "[sa-out-of-sync, CONFIRMED]" in second and "   Proof:" in second
    assert "current outbound spi: 0x5A3D1F2C" in second and "To confirm:" not in second
