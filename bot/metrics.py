"""Prometheus metrics: pastes diagnosed, replies, errors, latency.

Under gunicorn every worker is its own process, so prometheus-client runs in multiprocess
mode (PROMETHEUS_MULTIPROC_DIR, set by `spibot serve` before the workers start) and /metrics
adds up all workers.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from bot import settings

PASTES = Counter("spibot_pastes_diagnosed_total", "Pastes with invalid-SPI lines diagnosed")
REPLIES = Counter("spibot_replies_total", "Replies posted or updated in Slack", ["kind"])
NOTES = Counter("spibot_notes_total", "Incident notes stored", ["source"])
ERRORS = Counter("spibot_errors_total", "Handler failures", ["where"])
# Every label value is a time series kept forever: label with Slack's payload types only, so a
# flood of made-up types cannot grow /metrics.
ERROR_KINDS = frozenset(
    {
        "event_callback",
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "url_verification",
    }
)
DIAGNOSE_SECONDS = Histogram(
    "spibot_diagnose_seconds",
    "Time to diagnose a paste, including history lookups and recording",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


def label_for(kind: object) -> str:
    """The `where` label for a payload of this type: itself when Slack sends such payloads,
    "unknown" when there is none (slash commands), "other" for anything else."""
    if not kind:
        return "unknown"
    # "type" may be a list or an object in a malformed payload: compare only strings
    return kind if isinstance(kind, str) and kind in ERROR_KINDS else "other"


def exposition() -> tuple[bytes, str]:
    """The /metrics body and its content type."""
    if settings.raw("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
