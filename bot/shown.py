"""What every door shows of a diagnosis beyond its sentence, whatever it draws with: the
proof lines, the findings, the commands that would confirm the top cause. Slack-free, so the
terminal's renderer (bot/text.py) does not load Slack's SDK."""

from __future__ import annotations

from kb.diagnose import Diagnosis
from kb.peers import PeerDiagnosis

PEERS_SHOWN = 5  # a multi-peer reply has a card for this many peers, then names the others
PROOF_LINES = 8  # proof lines shown under a confirmed cause; the rest are counted
ASKS_SHOWN = 3


def proof_lines(proof: list[str], limit: int = PROOF_LINES) -> list[str]:
    """The first `limit` proof lines, and how many more there are."""
    shown = list(proof[:limit])
    if len(proof) > limit:
        shown.append(f"… and {len(proof) - limit} more line(s)")
    return shown


def findings_of(holder: object, kind: str, peer: str | None = None) -> list:
    """The findings of one kind that a diagnosis (or a peer's) holds; with `peer`, those
    about that peer or about the paste as a whole."""
    found = getattr(holder, "findings", None) or []
    return [f for f in found if f.kind == kind and (peer is None or f.peer in (peer, None))]


def asks_of(p: PeerDiagnosis) -> list[tuple[str, str]]:
    return [(a.where if a.where.startswith("on ") else f"on {a.where}", a.command) for a in p.ask]


def ask_lines(d: Diagnosis) -> list[tuple[str, str]]:
    """(where, command) to run when the paste held no device state: what would confirm the
    top cause of each peer shown, each once."""
    if getattr(d, "state", None):
        return []
    asks = [a for p in d.peers[:PEERS_SHOWN] for a in asks_of(p)]
    return list(dict.fromkeys(asks))[:ASKS_SHOWN]
