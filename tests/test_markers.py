"""kb/markers.py: which lines the scanner reads, the engines that find them (kb/_lines.c,
Hyperscan, Python's re), and the compiled Hyperscan database it keeps between runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb import markers
from tests.conftest import c_nibbles, needs_c

needs_hyperscan = pytest.mark.skipif(
    "hyperscan" not in markers.available(), reason="no Hyperscan here"
)
compiles = pytest.mark.slow  # compiles a database: 0.1 s, more on a loaded machine

LOG = (
    b"%ASA-6-302013: Built inbound TCP connection 1 for outside:198.51.100.7/51234 to x\n"
    b"%ASA-4-106023: Deny tcp src outside:198.51.100.7/51234 dst inside:10.2.2.2/445 by x\n"
    b"%ASA-4-106023: Deny udp src outside:198.51.100.7/4500 dst inside:192.0.2.9/4500 by x\n"
    b"%SEC-6-IPACCESSLOGP: list IN denied tcp 198.51.100.7(5000) -> 192.0.2.1(22), 1 packet\n"
    b"%SEC-6-IPACCESSLOGP: list IN denied udp 198.51.100.7(500) -> 192.0.2.1(500), 1 packet\n"
    b"%ASA: ignoring request to send delete notify (no ISAKMP sa) src 192.0.2.1 dst 1.2.3.4\n"
    b"%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down\n"
    b"%ASA-6-302013:\tBuilt inbound TCP connection 2\n"
)
# Read: the ACL denies of IKE (lines 3 and 5), the %ASA that is no tag so that a tagless
# format may follow (6), the tab that clean_line rewrites (8); the rest is noise.


@pytest.mark.parametrize("engine", markers.available())
def test_noise_of_the_noisy_families_is_skipped(engine: str) -> None:
    starts = markers.finder(engine)(LOG, len(LOG))
    lines = LOG.splitlines()
    numbers = [LOG.count(b"\n", 0, start) + 1 for start in starts]
    assert numbers == [3, 5, 6, 8], [lines[n - 1] for n in numbers]


@pytest.mark.parametrize("engine", markers.available())
def test_each_engine_numbers_the_lines_it_finds(engine: str) -> None:
    data = b"x\n" + LOG + b"%CRYPTO-4-IKMP_NO_SA: no newline at the end"
    begin = 2  # the second line's start
    found, newlines = markers.liner(engine)(data, begin, len(data), 2)
    assert newlines == data.count(b"\n", begin)
    numbers = [
        number
        for start, stop, number, maybe in found
        if not maybe or markers.line_is_read(data[start:stop])
    ]
    assert numbers == [4, 6, 7, 9, 10]
    assert found[-1][:2] == (data.rindex(b"\n") + 1, len(data))


def test_the_c_engine_is_built_where_a_compiler_is() -> None:
    # pip builds kb/_lines.c when it installs spibot and finds a C compiler; where it finds
    # none the install goes on, slower. Here the compiler Python was built with is looked for.
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) on this machine: Hyperscan or re is used")
    assert markers.ENGINE == "c", "kb/_lines.c was not built: see `pip install -v .`"


@pytest.mark.slow  # starts Python
def test_without_the_c_engine_the_scanner_falls_back() -> None:
    # As on a machine where kb/_lines.c could not be built: the module is missing.
    code = (
        "import sys; sys.modules['kb._lines'] = None\n"
        "from kb import markers, scan\n"
        "assert markers.ENGINE in ('hyperscan', 're'), markers.ENGINE\n"
        "events = scan.parse_text(open(sys.argv[1]).read())\n"
        "print(markers.ENGINE, len(events))\n"
    )
    example = Path(__file__).parents[1] / "kb" / "examples" / "out-of-sync.txt"
    done = subprocess.run(
        [sys.executable, "-c", code, str(example)], capture_output=True, text=True, check=True
    )
    engine, count = done.stdout.split()
    assert engine in ("hyperscan", "re") and int(count) > 0


@needs_hyperscan
@compiles
def test_the_compiled_database_is_kept_and_reloaded(tmp_path: Path) -> None:
    first = markers._Hyperscan(tmp_path)
    [kept] = tmp_path.glob("markers-*.hsdb")
    assert first._load(tmp_path) is not None  # a later run loads it instead of compiling
    again = markers._Hyperscan(tmp_path)
    assert again.starts(LOG, len(LOG)) == first.starts(LOG, len(LOG))
    assert list(tmp_path.glob("markers-*")) == [kept]  # no temporary file left behind


@needs_hyperscan
@compiles
def test_a_damaged_cache_is_compiled_again(tmp_path: Path) -> None:
    markers._Hyperscan(tmp_path)
    [kept] = tmp_path.glob("markers-*.hsdb")
    kept.write_bytes(b"not a database")
    engine = markers._Hyperscan(tmp_path)
    assert engine.starts(LOG, len(LOG))  # it still finds lines
    assert kept.read_bytes() != b"not a database"  # and the cache is whole again


@needs_hyperscan
@compiles
def test_no_writable_cache_still_scans(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory would be")
    engine = markers._Hyperscan(blocked / "cache")
    assert engine.starts(LOG, len(LOG)) == markers._Hyperscan(None).starts(LOG, len(LOG))


# Of 3 bytes or more and without 0x01: what kb/_lines.c searches in one pass (others are searched
# one by one in Python).
LITERAL = st.binary(min_size=3, max_size=12).map(lambda x: x.replace(b"\x01", b"\x02"))


@pytest.mark.slow  # hundreds of examples
@pytest.mark.parametrize("nibbles", [True, False], ids=["nibble tables", "compares"])
@settings(max_examples=300, deadline=None)
@given(
    st.lists(LITERAL, min_size=1, max_size=24),
    st.lists(st.one_of(LITERAL, st.binary(max_size=80)), max_size=40),
    st.integers(0, 200),
    st.integers(0, 200),
)
def test_the_first_of_several_literals(
    nibbles: bool, literals: list[bytes], pieces: list[bytes], cut_start: int, cut_end: int
) -> None:
    # The state reader's search (kb/state/reader.py): in C where it is built, the same answer
    # as one search per literal, wherever the literals are spliced and whatever the window.
    data = b"".join(pieces) + b"".join(literals[:2])
    start = min(cut_start, len(data))
    end = max(start, len(data) - cut_end)
    hits = [at for x in literals if (at := data.find(x, start, end)) != -1]
    with c_nibbles(nibbles):  # where kb/_lines.c is not built: one search per literal
        assert markers.first_finder(tuple(literals))(data, start, end) == min(hits, default=-1)


@pytest.mark.slow  # hundreds of examples
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=5000), st.integers(0, 5000), st.integers(0, 5000))
def test_lines_are_counted_as_bytes_count_them(data: bytes, a: int, b: int) -> None:
    start, end = sorted((min(a, len(data)), min(b, len(data))))
    assert markers.count_lines(data, start, end) == data.count(b"\n", start, end)


def test_doctor_says_when_the_c_engine_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import doctor

    assert [c.status for c in doctor._scanner()] == ["ok" if markers.ENGINE == "c" else "warn"]
    monkeypatch.setattr(markers, "ENGINE", "re")
    [check] = doctor._scanner()
    assert check.status == "warn" and "re reads big files" in check.detail
    assert "apt install gcc python3-dev" in check.detail


@needs_c
def test_the_c_engine_is_configured_once() -> None:
    # A pass runs without the GIL: what it reads is never changed under it.
    with pytest.raises(RuntimeError, match="already"):
        markers._lines.configure([(b"%CRYPTO", 1)], [])
    with pytest.raises(RuntimeError, match="already"):
        markers.read_whole_lines(4096)
    literals = markers._lines.Literals([b"show cry"])
    with pytest.raises(RuntimeError, match="once"):
        literals.__init__([b"other"])
    assert literals.first(b"x show cry", 0, 10) == 2


@needs_c
def test_events_are_built_only_for_an_event_type_of_the_known_slots() -> None:
    from dataclasses import dataclass

    from kb.events import Event

    @dataclass(slots=True)
    class Wider(Event):
        extra: int = 0  # a slot the C engine would leave unset

    with pytest.raises(TypeError, match="slots"):
        markers._lines.configure_events(Wider, markers.FAST_WORDS, 4096)


def test_too_many_literals_for_one_pass_are_searched_one_by_one() -> None:
    many = tuple(bytes([65 + i // 26, 97 + i % 26, 48 + i % 10]) for i in range(60))
    data = b"..." + many[59] + b"..." + many[3]
    assert markers.first_finder(many)(data, 0, len(data)) == 3
