from __future__ import annotations

import fcntl
import inspect
import json
import os
import socketserver
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import settings

from kb import markers
from tests import netguard

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
# The example pastes ship with the package (the README's first command reads one); one copy.
PASTES = ROOT / "kb" / "examples"
SPIBOT = [sys.executable, "-m", "bot"]
# tests/child/sitecustomize.py puts the network guard into every Python process started with
# this environment; ROOT makes `python -m bot` this checkout whatever the current directory.
CHILD_PYTHONPATH = os.pathsep.join([str(Path(__file__).parent / "child"), str(ROOT)])
# The developer's own Slack and spibot settings must not leak into a test's process, nor the
# test runner's terminal size: pytest-xdist's workers export COLUMNS=80, and spibot folds its
# output to COLUMNS (a test that wants a width sets it).
CLEAN_ENV = {
    **{
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "SPIBOT_", "PORT")) and k not in ("COLUMNS", "LINES")
    },
    "PYTHONPATH": CHILD_PYTHONPATH,
}
# kb/_lines.c, the log scanner's C engine, where pip built it here.
needs_c = pytest.mark.skipif("c" not in markers.available(), reason="kb/_lines.c is not built")


@contextmanager
def c_nibbles(on: bool) -> Iterator[None]:
    """kb/_lines.c finding its anchors by nibble tables (on, where the CPU can) or by a compare
    with each anchor (as on CPUs without a byte shuffle), for the time of the block."""
    c = markers._lines  # None where it is not built: nothing to switch
    was = c.set_nibbles(on) if c else None
    try:
        yield
    finally:
        if c:
            c.set_nibbles(was)


# A test not marked slow that takes longer than this is named at the end of the run.
SLOW_SECONDS = 0.5
# Hypothesis fails an example that takes over 200 ms by default: a wall-clock assertion that a
# loaded machine trips. Property tests assert behaviour; speed is tests/test_adversarial.py's.
settings.register_profile("spibot", deadline=None)
settings.load_profile("spibot")

T = TypeVar("T")


def spibot(
    *args: str,
    stdin: str | bytes | None = None,
    env: dict | None = None,
    cwd: Path | None = None,
    text: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """`spibot ARGS` as a user runs it: its own process, a clean environment plus `env`."""
    return subprocess.run(
        [*SPIBOT, *args],
        input=stdin,
        capture_output=True,
        text=text,
        timeout=timeout,
        cwd=cwd,
        env={**CLEAN_ENV, **(env or {})},
    )


def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, what: str = "it", *, fail: bool = True
) -> T:
    """Poll `predicate` until it returns something true, and return that; fail the test if it
    has not within `timeout` seconds (with `fail=False`, return its last value and let the
    test's own assertions say what is wrong). Use it instead of sleeping "long enough"."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            if not fail:
                return value
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def corpus() -> list[dict]:
    with (FIXTURES / "real-lines.jsonl").open() as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


# --- No network ----------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    netguard.install()  # from collection on: importing a test module is guarded too


def pytest_unconfigure(config: pytest.Config) -> None:
    netguard.uninstall()


@pytest.fixture(autouse=True)
def _no_network_in_this_test():
    """Fail the test that tried to reach the network, even if the code under test caught the
    error (a refusal during a module fixture's set-up counts against its first test)."""
    yield
    refused = netguard.take()
    if refused:
        pytest.fail("\n".join(refused), pytrace=False)


# --- Tests that load the machine on purpose run alone ----------------------------------------
# Run on several cores (pytest-xdist), a test marked `alone` waits until the other workers'
# tests are done and holds them off until it is: with them, a four-worker stress test on two
# cores is a test of the machine's load. Two flock()s make a lock that prefers it: every test
# takes its shared hold through the gate, so one waiting for the whole lock is not starved.


@pytest.fixture(autouse=True)
def _alone_when_marked(request: pytest.FixtureRequest, tmp_path_factory):
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # one process: every test is alone already
        yield
        return
    alone = request.node.get_closest_marker("alone") is not None
    shared = tmp_path_factory.getbasetemp().parent  # the run's, above each worker's own
    with (shared / "alone.gate").open("a") as gate, (shared / "alone.lock").open("a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            fcntl.flock(gate, fcntl.LOCK_UN)


# --- The slow marker -----------------------------------------------------------------------
# `pytest -m "not slow"` is the inner loop. A test is slow when it starts a process or a
# server, itself or through anything in tests/ that it or its fixtures call (the spibot()
# helper, ServeProcess, SlackHarness, FakeSlack, ...): found here by following the names their
# code uses, so a new test is marked without anyone remembering to; one that is missed fails
# when it starts a process. Tests slow for other reasons (a big input, many examples) carry
# @pytest.mark.slow themselves, and a run names any over 0.5 s that do not.

TESTS = Path(__file__).resolve().parent
# The autouse guards of this file are every test's, not something a test does.
EVERY_TESTS_FIXTURES = {
    "_no_network_in_this_test",
    "_the_inner_loop_starts_no_process",
    "_alone_when_marked",
}


def _starts_a_process_or_server(obj: object) -> bool:
    if obj is subprocess:
        return True
    if isinstance(obj, type) and issubclass(obj, socketserver.BaseServer):
        return True
    name = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    return name in {"wsgiref.simple_server.make_server", "websockets.sync.server.serve"}


def _in_tests(obj: object) -> bool:
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve().parent == TESTS


def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _functions_of(obj: object) -> list[types.FunctionType]:
    if isinstance(obj, types.FunctionType):
        inner = getattr(getattr(obj, "hypothesis", None), "inner_test", None)
        return [obj, inner] if inner else [obj]
    if isinstance(obj, type):
        found = []
        for value in vars(obj).values():
            value = getattr(value, "fget", value)  # properties
            value = getattr(value, "__func__", value)  # static and class methods
            if isinstance(value, types.FunctionType):
                found.append(value)
        return found
    return []


def starts_something(obj: object, seen: dict[int, bool] | None = None) -> bool:
    """Whether calling `obj` may start a process or a server, following names through tests/."""
    seen = {} if seen is None else seen
    if isinstance(obj, types.FunctionType):
        obj = inspect.unwrap(obj)  # a @contextmanager's or @functools.wraps' own function
    if _starts_a_process_or_server(obj):
        return True
    if not _in_tests(obj) or id(obj) in seen:
        return seen.get(id(obj), False)
    seen[id(obj)] = False  # recursion guard
    for function in _functions_of(obj):
        for code in _code_objects(function.__code__):
            for name in code.co_names:
                if name in function.__globals__ and starts_something(
                    function.__globals__[name], seen
                ):
                    seen[id(obj)] = True
                    return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    seen: dict[int, bool] = {}
    for item in items:
        if item.get_closest_marker("slow"):
            continue
        used = [getattr(item, "function", None)]
        for name, defs in item._fixtureinfo.name2fixturedefs.items():
            if name not in EVERY_TESTS_FIXTURES:
                used += [d.func for d in defs]
        if any(starts_something(obj, seen) for obj in used if obj is not None):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _the_inner_loop_starts_no_process(request: pytest.FixtureRequest, monkeypatch) -> None:
    """What the marking above misses (a helper imported inside a function, say) fails here."""
    if request.node.get_closest_marker("slow") is None:

        def refuse(*args, **kwargs):
            raise AssertionError("this test starts a process: mark it @pytest.mark.slow")

        monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


_unmarked_and_slow: list[tuple[float, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.duration > SLOW_SECONDS and "slow" not in report.keywords:
        _unmarked_and_slow.append((report.duration, report.nodeid))


def pytest_terminal_summary(terminalreporter) -> None:
    if _unmarked_and_slow:
        terminalreporter.section("tests over 0.5 s not marked slow")
        for duration, nodeid in sorted(_unmarked_and_slow, reverse=True):
            terminalreporter.write_line(f"{duration:.2f}s {nodeid}")


@pytest.fixture
def store(tmp_path: Path):
    """A new knowledge base in the test's own directory (created, migrated, seeded)."""
    from kb.store import Store

    with Store(tmp_path / "kb.db") as opened:
        yield opened
