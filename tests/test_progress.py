"""A progress bar while a big file is read: on a terminal only, never with --quiet or when
standard error is piped, and never in standard output."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from bot.cli import PROGRESS_MIN_BYTES
from tests.conftest import CLEAN_ENV, SPIBOT

pytestmark = pytest.mark.slow  # each run reads a file over 20 MB

IOS = (
    "Mar  3 09:14:02.113: %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid "
    "spi for destaddr=192.0.2.1, prot=50, spi=0x5A3D1F2C(1513955116), srcaddr=198.51.100.7\n"
)
FILLER = "Mar  3 09:14:02.113: %LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/1, up\n"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "day.log"
    block = (IOS + FILLER * 99).encode()
    with path.open("wb") as f:
        while f.tell() <= PROGRESS_MIN_BYTES:
            f.write(block)
    return path


def run(*args: str, tty: bool, tmp_path: Path) -> tuple[int, str, str]:
    """spibot with standard error on a terminal (a pty) or a pipe: (code, stdout, stderr)."""
    out = tmp_path / "out"
    with out.open("wb") as stdout:
        if not tty:
            done = subprocess.run(
                [*SPIBOT, *args], stdout=stdout, stderr=subprocess.PIPE, env=CLEAN_ENV, timeout=300
            )
            return done.returncode, out.read_text(), done.stderr.decode()
        primary, secondary = pty.openpty()
        child = subprocess.Popen(
            [*SPIBOT, *args],
            stdout=stdout,
            stderr=secondary,
            stdin=subprocess.DEVNULL,
            env=CLEAN_ENV,
        )
        os.close(secondary)
        said = b""
        while True:
            try:
                piece = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not piece:
                break
            said += piece
        os.close(primary)
        code = child.wait(timeout=300)
    return code, out.read_text(), said.decode(errors="replace")


def test_a_big_file_shows_a_bar_on_a_terminal(big: Path, tmp_path: Path) -> None:
    code, out, err = run("parse", "--json", str(big), tty=True, tmp_path=tmp_path)
    assert code == 0
    assert "Reading" in err and "100%" in err
    events = json.loads(out)["events"]  # standard output is JSON and nothing else
    assert len(events) == big.stat().st_size // len((IOS + FILLER * 99).encode())


def test_quiet_shows_none(big: Path, tmp_path: Path) -> None:
    code, out, err = run("parse", "--json", "--quiet", str(big), tty=True, tmp_path=tmp_path)
    assert code == 0 and "Reading" not in err and json.loads(out)["events"]


def test_piped_standard_error_shows_none(big: Path, tmp_path: Path) -> None:
    code, _, err = run("parse", "--json", str(big), tty=False, tmp_path=tmp_path)
    assert code == 0 and err == ""


def test_diagnose_shows_one_too(big: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    args = ("diagnose", "--no-record", "--db", db, str(big))
    code, out, err = run(*args, tty=True, tmp_path=tmp_path)
    assert code == 0 and "Reading" in err and "100%" in err
    assert "198.51.100.7" in out


def test_a_small_file_shows_none(tmp_path: Path) -> None:
    small = tmp_path / "small.log"
    small.write_text(IOS * 10)
    code, _, err = run("parse", str(small), tty=True, tmp_path=tmp_path)
    assert code == 0 and "Reading" not in err
