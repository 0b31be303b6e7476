"""Tests never reach the network: tests/netguard.py refuses every connection that is not to
loopback or a Unix socket, in the tests' own process and in the processes they start."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import netguard
from tests.conftest import CLEAN_ENV, ROOT

NOWHERE = ("192.0.2.1", 443)  # TEST-NET-1, a documentation address: never routed anywhere


def refused(call) -> str:
    with pytest.raises(netguard.NetworkBlocked) as caught:
        call()
    return str(caught.value)


def test_the_guard_refuses_a_documentation_address_every_way_it_can_be_reached() -> None:
    with netguard.expecting_refusals() as refusals:
        refused(lambda: socket.create_connection(NOWHERE, timeout=1))
        with socket.socket() as sock:
            refused(lambda: sock.connect(NOWHERE))
            refused(lambda: sock.connect_ex(NOWHERE))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            refused(lambda: udp.sendto(b"x", ("192.0.2.1", 53)))
        with socket.socket(socket.AF_INET6) as sock6:
            refused(lambda: sock6.connect(("2001:db8::1", 443, 0, 0)))
        with socket.socket() as sock:
            refused(lambda: sock.connect(("example.com", 443)))  # a name: not even resolved
        refused(lambda: socket.getaddrinfo("example.com", 443))
        with pytest.raises(urllib.error.URLError) as caught:  # as libraries meet it
            urllib.request.urlopen("https://192.0.2.1/api/", timeout=1)
        assert isinstance(caught.value.reason, netguard.NetworkBlocked)
    assert len(refusals) == 8
    assert all("network access refused in tests" in r for r in refusals)
    assert "('192.0.2.1', 443)" in refusals[0]


def test_a_refusal_the_code_swallowed_is_still_recorded_against_the_test() -> None:
    # contextlib.suppress: what code that "handles" a refused connection does
    with netguard.expecting_refusals() as refusals, contextlib.suppress(OSError):
        socket.create_connection(NOWHERE, timeout=1)
    # tests/conftest.py fails the test with exactly this list once the test is over
    assert refusals == [
        "network access refused in tests: create_connection to ('192.0.2.1', 443) "
        "(loopback and Unix sockets only)"
    ]


def test_loopback_and_unix_sockets_are_allowed(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            socket.create_connection((host, port), timeout=5).close()
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) == 0
    try:
        server6 = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:  # no IPv6 loopback on this machine
        server6 = None
    if server6 is not None:
        with server6:
            socket.create_connection(("::1", server6.getsockname()[1]), timeout=5).close()
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)
    assert netguard.is_loopback("127.8.9.10") and netguard.is_loopback("::ffff:127.0.0.1")
    assert not netguard.is_loopback("192.0.2.1") and not netguard.is_loopback("example.com")


CHILD = """
import socket, sys
port = int(sys.argv[1])
socket.create_connection(("127.0.0.1", port), timeout=5).close()
print("loopback ok", flush=True)
socket.create_connection(("192.0.2.1", 443), timeout=5)
"""


def test_processes_the_tests_start_are_guarded_too() -> None:
    # The spibot() helper and ServeProcess start theirs with CLEAN_ENV, whose PYTHONPATH
    # holds tests/child/sitecustomize.py: the same guard, reported on standard error.
    with socket.create_server(("127.0.0.1", 0)) as server:
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(server.getsockname()[1])],
            env=CLEAN_ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert child.stdout == "loopback ok\n"
    assert child.returncode == 1 and "NetworkBlocked" in child.stderr
    assert (
        "spibot tests: network access refused in tests: create_connection to ('192.0.2.1', 443)"
        in child.stderr
    )


SWALLOWING_TEST = """
import contextlib, socket

def test_that_swallows_a_refusal():
    with contextlib.suppress(OSError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
"""


def test_a_test_that_tried_fails_even_if_the_code_swallowed_the_error(tmp_path: Path) -> None:
    (tmp_path / "test_swallowing.py").write_text(SWALLOWING_TEST)
    # this suite's conftest as a plugin, for a test file of its own
    plugin = ["-p", "tests.conftest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, str(tmp_path / "test_swallowing.py")],
        cwd=ROOT,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout
    assert "ERROR at teardown of test_that_swallows_a_refusal" in run.stdout
    assert "network access refused in tests: create_connection to ('192.0.2.1', 443)" in run.stdout
