"""No test reaches the network: connecting to anything but loopback or a Unix socket fails.

`install()` wraps socket.socket.connect, connect_ex and sendto, socket.create_connection and
socket.getaddrinfo. Allowed: 127.0.0.0/8, ::1 (also as ::ffff:127.x.x.x), `localhost`, Unix
sockets; resolving any other name is refused too, since asking DNS is reaching the network.

tests/conftest.py installs it for the whole pytest process and fails a test that tried, even
when the code under test swallowed the error. A process a test starts inherits nothing from
that; tests/child/sitecustomize.py installs the same guard in every Python process started with
tests/child on its PYTHONPATH (conftest.CLEAN_ENV has it: the spibot() helper, ServeProcess),
where an attempt fails and is reported on standard error.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class NetworkBlocked(OSError):
    """An OSError, as a refused connection is to its caller, so code under test handles it as
    it would a real one; the test still fails (see tests/conftest.py)."""


refusals: list[str] = []  # every refused attempt since the last take()
_lock = threading.Lock()
_real: dict[str, Callable] = {}
_report: Callable[[str], None] | None = None


def _host_text(host: object) -> str:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    # "[::1]", "fe80::1%eth0", "localhost." all name their host with some decoration
    return str(host).strip().strip("[]").split("%", 1)[0].rstrip(".").lower()


def _address(host: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(_host_text(host))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def is_loopback(host: object) -> bool:
    """Whether `host` (a name or an address, as a socket call takes it) is this machine."""
    if _host_text(host) in LOOPBACK_NAMES:
        return True
    address = _address(host)
    return address is not None and address.is_loopback


def _refuse(what: str) -> None:
    message = f"network access refused in tests: {what} (loopback and Unix sockets only)"
    with _lock:
        refusals.append(message)
    if _report is not None:
        _report(message)
    raise NetworkBlocked(message)


def _check(family: int, address: object, what: str) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX and friends never leave the machine
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback(host):
        _refuse(f"{what} {address!r}")


def install(report: Callable[[str], None] | None = None) -> None:
    """Guard this process (idempotent). `report` is also told of each refusal."""
    global _report
    _report = report
    if _real:
        return
    _real.update(
        connect=socket.socket.connect,
        connect_ex=socket.socket.connect_ex,
        sendto=socket.socket.sendto,
        create_connection=socket.create_connection,
        getaddrinfo=socket.getaddrinfo,
    )

    def connect(self, address):
        _check(self.family, address, "connect to")
        return _real["connect"](self, address)

    def connect_ex(self, address):
        _check(self.family, address, "connect_ex to")
        return _real["connect_ex"](self, address)

    def sendto(self, data, *flags_and_address):
        _check(self.family, flags_and_address[-1], "sendto")
        return _real["sendto"](self, data, *flags_and_address)

    def create_connection(address, *args, **kwargs):
        if not is_loopback(address[0]):
            _refuse(f"create_connection to {address!r}")
        return _real["create_connection"](address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        # An address literal is not looked up (connect() then judges it); a name other than
        # localhost would be asked of DNS.
        local = host is None or host in ("", b"")  # the wildcard a server binds to
        if not local and not is_loopback(host) and _address(host) is None:
            _refuse(f"getaddrinfo of {host!r}")
        return _real["getaddrinfo"](host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
    socket.create_connection = create_connection
    socket.getaddrinfo = getaddrinfo


def uninstall() -> None:
    if not _real:
        return
    socket.socket.connect = _real["connect"]
    socket.socket.connect_ex = _real["connect_ex"]
    socket.socket.sendto = _real["sendto"]
    socket.create_connection = _real["create_connection"]
    socket.getaddrinfo = _real["getaddrinfo"]
    _real.clear()


def take() -> list[str]:
    """The refusals since the last call, forgotten."""
    with _lock:
        taken = refusals[:]
        refusals.clear()
    return taken


@contextlib.contextmanager
def expecting_refusals() -> Iterator[list[str]]:
    """For the guard's own tests: refusals inside the block are collected here and do not
    fail the test."""
    caught: list[str] = []
    with _lock:
        before = len(refusals)
    try:
        yield caught
    finally:
        with _lock:
            caught.extend(refusals[before:])
            del refusals[before:]
