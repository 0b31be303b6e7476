"""A state parser's entries as tests expect them: every field the model prints, at its
default, so that a test writes out only the fields its fixture fills (and a field added to the
model is not a change to every test file)."""

from __future__ import annotations

from kb.state.model import IkeSa, Line, Tunnel


def tunnel(**fields) -> dict:
    out = Tunnel(None, None, Line(0, "")).to_dict() | {"line": None}
    return out | fields


def ike(**fields) -> dict:
    out = IkeSa(None, None, None, None, Line(0, "")).to_dict() | {"line": None}
    return out | fields
