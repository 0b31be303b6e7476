"""What the terminal doors print of other people's text: never a live control sequence."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import spibot

HOSTILE_NOTE = "cleared SAs\x1b[2J\x1b]0;owned\x07 on the hub\rFAKE LINE\x9b31m"
CONTROLS = ("\x1b", "\x07", "\r", "\x9b")


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
