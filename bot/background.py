"""Work done after Slack's acknowledgement, on a pool of its own and bounded.

Pastes and other events are acknowledged at once and answered here, so that they never hold
the threads that acknowledge /spi, buttons and forms within Slack's 3 seconds. The queue is
bounded: under a flood beyond MAX_PENDING, new work is refused with a warning and a metric
rather than held in memory without end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor

from bot import metrics

log = logging.getLogger("spibot.slack")
MAX_PENDING = 200


class Background:
    def __init__(self, executor: Executor, limit: int = MAX_PENDING) -> None:
        self.executor = executor
        self.limit = limit
        self._pending = 0
        self._lock = threading.Lock()

    def submit(self, where: str, fn: Callable, /, *args, **kwargs) -> bool:
        """Run fn later; False (and a warning) when `limit` pieces of work are waiting."""
        with self._lock:
            if self._pending >= self.limit:
                metrics.ERRORS.labels("overload").inc()
                log.warning("%s refused: %d already waiting", where, self._pending)
                return False
            self._pending += 1

        def run() -> None:
            try:
                fn(*args, **kwargs)
            except Exception as exc:
                metrics.ERRORS.labels(where).inc()
                log.error("%s failed: %s", where, exc, exc_info=exc)
                raise  # kept on the future too, where tests look for it
            finally:
                with self._lock:
                    self._pending -= 1

        self.executor.submit(run)
        return True
