"""Python imports this at start-up when tests/child is on PYTHONPATH, as it is in every process
the spibot() helper and ServeProcess start (tests/conftest.py: CLEAN_ENV): the network guard of
the tests' own process (tests/netguard.py), which a child process does not inherit."""

import importlib.util
import pathlib
import sys

_path = pathlib.Path(__file__).resolve().parents[1] / "netguard.py"
_spec = importlib.util.spec_from_file_location("_spibot_tests_netguard", _path)
_guard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_guard)
_guard.install(
    report=lambda message: print(f"spibot tests: {message}", file=sys.stderr, flush=True)
)
