"""`spibot parse` and `spibot diagnose` with device state: several files are one case.

Real processes, real files, real exit codes (the `spibot` helper of tests/conftest.py; these
tests are marked slow by it). The case is tests/cases/ios-hub-asa-spoke-stale-sa-both-ends/:
a hub's log, the hub's `show crypto ipsec sa` and the ASA spoke's.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import spibot

CASE = Path(__file__).parent / "cases" / "ios-hub-asa-spoke-stale-sa-both-ends"
LOG, HUB, SPOKE = (CASE / n for n in ("1-log.txt", "2-hub-state.txt", "3-spoke-asa-state.txt"))
PROOF = re.compile(r"^(?:(?P<host>[^:]+): )?line (?P<number>\d+): (?P<text>.*)$")


def run(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return spibot(*map(str, args), stdin=stdin, text=False)


def diagnosis(*files: str | Path) -> dict:
    result = run("diagnose", "--json", "--no-record", *files)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_parse_json_lists_one_state_entry_per_output() -> None:
    result = run("parse", "--json", LOG, HUB, SPOKE)
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    invalid = [e["line"] for e in doc["events"] if e["kind"] == "invalid_spi"]
    assert invalid == [1, 2, 3, 4]
    state = doc["state"]
    # The hub's file starts at line 5 (the log has 4 lines), the spoke's at 39.
    assert [(s["command"], s["host"], s["lines"]) for s in state] == [
        ("show crypto ipsec sa", "hub", [5, 38]),
        ("show crypto ipsec sa", "spoke-asa", [39, 88]),
    ]
    for entry in state:
        assert {"command", "host", "lines", "boxes", "parsed", "tunnels"} <= set(entry)
        assert entry["parsed"] is True and entry["problems"] == []
    assert state[0]["boxes"] == ["192.0.2.101"] and state[1]["boxes"] == ["198.51.100.101"]
    assert state[1]["platform"] == "asa"
    hub, spoke = state[0]["tunnels"][0], state[1]["tunnels"][0]
    assert (hub["peer"], hub["local"]) == ("198.51.100.101", "192.0.2.101")
    assert (spoke["peer"], spoke["local"]) == ("192.0.2.101", "198.51.100.101")
    # The spoke still sends with the SPI the hub rejects; the hub holds no such inbound SA.
    assert spoke["current_outbound_spi"] == "0x3C9A4E71"
    assert "0x3C9A4E71" not in [sa["spi"] for sa in hub["sas"] if sa["direction"] == "inbound"]
    assert {"peer", "local", "current_outbound_spi", "sas", "line"} <= set(hub)


def test_diagnose_confirms_the_cause_with_the_state_files_lines() -> None:
    doc = diagnosis(LOG, HUB, SPOKE)
    top = doc["causes"][0]
    assert doc["confidence"] == "confirmed" and top["confidence"] == "confirmed"
    assert top["id"] == "sa-out-of-sync"
    assert top["proof"] and doc["findings"] and doc["ask"] == []
    assert doc["findings"][0]["kind"] == "confirmed"
    assert doc["findings"][0]["cause"] == "sa-out-of-sync"
    # Every proof line quotes the line it names, numbered across the files read as one.
    lines = ["", *(LOG.read_text() + HUB.read_text() + SPOKE.read_text()).split("\n")]
    state_first = len(LOG.read_text().split("\n"))  # line 5: the hub's prompt
    for proof in top["proof"] + [p for f in doc["findings"] for p in f["proof"]]:
        m = PROOF.match(proof)
        assert m, proof
        number = int(m["number"])
        assert number >= state_first, proof
        assert " ".join(lines[number].split()) == " ".join(m["text"].split()), proof


def test_a_log_alone_asks_for_the_state_with_the_addresses_filled_in() -> None:
    doc = diagnosis(LOG)
    assert doc["confidence"] != "confirmed" and doc["state"] == [] and doc["findings"] == []
    commands = [a["command"] for a in doc["ask"]]
    assert "show crypto ipsec sa peer 198.51.100.101" in commands  # on the hub
    assert "show crypto ipsec sa peer 192.0.2.101" in commands  # on the peer
    wheres = " ".join(a["where"] for a in doc["ask"])
    assert "198.51.100.101" in wheres and "192.0.2.101" in wheres
    assert all(a["why"] for a in doc["ask"])


def test_a_missing_second_file_fails_before_anything_is_read(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
    for command in ("parse", "diagnose"):
        extra = ("--db", str(db)) if command == "diagnose" else ()
        result = run(command, *extra, "-", tmp_path / "missing.txt", stdin=LOG.read_bytes())
        assert result.returncode == 2, command
        assert b"cannot read" in result.stderr and b"missing.txt" in result.stderr
        assert result.stdout == b""  # no header, no event: standard input was not read
    assert not db.exists()  # not even the database was opened


def test_a_binary_second_file_is_refused_by_name(tmp_path: Path) -> None:
    blob = tmp_path / "capture.pcap"
    blob.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(range(256)) * 64)
    for command in ("parse", "diagnose"):
        extra = ("--no-record",) if command == "diagnose" else ()
        result = run(command, *extra, LOG, blob)
        assert result.returncode == 3, command
        err = result.stderr.decode()
        assert f"error: {blob}: " in err and "binary" in err and "Traceback" not in err
        assert str(LOG) not in err


def test_standard_input_twice_is_a_usage_error() -> None:
    for command in ("parse", "diagnose"):
        result = run(command, "-", "-", stdin=LOG.read_bytes())
        assert result.returncode == 2, command
        assert b"standard input (-) can be read once" in result.stderr


def test_a_file_without_a_last_newline_does_not_glue_onto_the_next(tmp_path: Path) -> None:
    log = tmp_path / "1-log.txt"
    log.write_bytes(LOG.read_bytes().rstrip(b"\n"))  # ends mid-line, no newline
    parsed = json.loads(run("parse", "--json", log, HUB).stdout)
    # The last log line is still a line of its own.
    assert [e["line"] for e in parsed["events"] if e["kind"] == "invalid_spi"] == [1, 2, 3, 4]
    # The hub's first line, its prompt, is still line 5 and still a prompt.
    assert [(s["host"], s["lines"][0]) for s in parsed["state"]] == [("hub", 5)]
    assert parsed["state"][0]["typed"] == "show crypto ipsec sa peer 198.51.100.101"
    assert diagnosis(log, HUB, SPOKE)["confidence"] == "confirmed"


def _without_line_numbers(doc: dict) -> dict:
    """What a diagnosis says, the numbers of the lines it quotes aside."""
    return {
        "top": [(c["id"], c["confidence"]) for c in doc["causes"]],
        "confidence": doc["confidence"],
        "peer": doc["peer"],
        "findings": [
            (
                f["kind"],
                f["cause"],
                f["peer"],
                f["text"],
                [PROOF.sub(r"\g<text>", p) for p in f["proof"]],
            )
            for f in doc["findings"]
        ],
        "ask": doc["ask"],
        "hosts": sorted(s["host"] for s in doc["state"]),
    }


def test_files_in_another_order_give_the_same_diagnosis() -> None:
    first = _without_line_numbers(diagnosis(LOG, HUB, SPOKE))
    assert first["confidence"] == "confirmed"
    for order in ((SPOKE, HUB, LOG), (HUB, LOG, SPOKE)):
        assert _without_line_numbers(diagnosis(*order)) == first, order
