"""What device state and the log prove together, in words with the lines that prove it.

kb/state/confirm.py derives Findings from a paste's log events and its state blocks; a
`confirmed` finding makes its cause the top one with confidence "confirmed" and its proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# What a finding does to its cause:
#   confirmed      the state proves it (the cause goes first, confidence "confirmed")
#   supports       the state speaks for it, short of proof
#   contradiction  the state contradicts the log or the cause (shown, never hidden)
#   prevention     a fact about what would have prevented it (no DPD on the sender)
#   note           what the state could not tell: unparsed output, a box neither end
FINDING_KINDS = ("confirmed", "supports", "contradiction", "prevention", "note")


@dataclass(slots=True)
class Finding:
    kind: str
    text: str  # one sentence, addresses and SPIs filled in
    cause: str | None = None  # the article id it speaks for, when it speaks for one
    peer: str | None = None  # the logged peer it is about; None: the paste as a whole
    proof: list[str] = field(default_factory=list)  # "host: line N: text", in order

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "cause": self.cause,
            "peer": self.peer,
            "text": self.text,
            "proof": list(self.proof),
        }


@dataclass(slots=True)
class Ask:
    """A command whose output would confirm the top cause, and where to run it."""

    where: str  # "on 198.51.100.7 (the peer)", "on this box (hub-1, 192.0.2.1)"
    command: str  # filled in, one runnable line
    why: str  # what its output would show

    def to_dict(self) -> dict:
        return {"where": self.where, "command": self.command, "why": self.why}
