"""kb/markers.py: which lines the scanner reads, and the compiled Hyperscan database it keeps
between runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import markers

needs_hyperscan = pytest.mark.skipif(markers.ENGINE != "hyperscan", reason="no Hyperscan here")
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


@pytest.mark.parametrize("engine", ["re", "hyperscan"])
def test_noise_of_the_noisy_families_is_skipped(engine: str) -> None:
    if engine == "hyperscan" and markers.ENGINE != "hyperscan":
        pytest.skip("no Hyperscan here")
    starts = markers.finder(engine)(LOG, len(LOG))
    lines = LOG.splitlines()
    numbers = [LOG.count(b"\n", 0, start) + 1 for start in starts]
    assert numbers == [3, 5, 6, 8], [lines[n - 1] for n in numbers]


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
