"""Prometheus metrics: pastes diagnosed, replies, errors, latency, and feed mode's ingest.

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

# Feed mode (bot/feed). Lines are counted per call, not per line: a datagram costs one inc().
INGEST_LINES = Counter("spibot_ingest_lines_total", "Lines received by feed mode", ["door"])
INGEST_RECOGNISED = Counter(
    "spibot_ingest_recognised_total", "Received lines recognised as invalid-SPI or companion"
)
# reasons: queue_full, flood (one sender over its share), too_long, unfinished, not_text,
# not_written (the database refused the batch)
INGEST_DROPPED = Counter("spibot_ingest_dropped_total", "Received lines dropped", ["reason"])
INCIDENTS_OPENED = Counter("spibot_incidents_opened_total", "Incidents opened by feed mode")
ALERTS = Counter("spibot_alerts_total", "Alert messages posted or updated", ["kind"])
INGEST_COMMIT_SECONDS = Histogram(
    "spibot_ingest_commit_seconds",
    "Time from a line's arrival to its incident's commit",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
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
