"""Verify and fix commands in an article: one runnable line each, per platform, with where it
runs, the mode it runs in, how to get there, and the source that backs it.

In an article's front-matter (`verify:` and `fix:` map a platform to a list of these):

    - command: crypto isakmp keepalive 10 3 periodic     # one runnable line
      where: peer                # local (default) | peer | both | fmc | fdm
      mode: config               # exec (default) | config | ui
      path: [configure terminal] # lines that enter the mode, outermost first
      note: DPD, so the peer notices within seconds      # optional, never printed in a command
      source: iosdpd             # a name in the article's `sources`, or one of its URLs
      # or, instead of source:  unverified: why it could not be checked

`{peer}` and `{local}` are filled in with the addresses of the paste; `<crypto-map-name>` (lower
case, words joined by '-') is a value the engineer supplies. A platform with no list gets one
line, "no command known for <platform>": never another platform's commands.

A command is what the engineer pastes, so it holds nothing else: no prose ("then", "e.g.",
"if"), no brackets but placeholders (parentheses and the like only inside quotes), no arrows,
no trailing `#`/`!` comment. What it needs saying goes in `note`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

PLATFORMS = ("ios", "asa", "ftd", "pix", "fortigate", "panos", "screenos")
WHERE = ("local", "peer", "both", "fmc", "fdm")
MODES = ("exec", "config", "ui")
ITEM_KEYS = ("command", "where", "mode", "path", "note", "source", "unverified")
PLACEHOLDER = re.compile(r"<[A-Za-z][A-Za-z0-9_-]*>")  # as stored, older articles included
NAMED = re.compile(r"<[a-z][a-z0-9]*(?:-[a-z0-9]+)*>")  # as written in an article now
_FILLED = re.compile(r"\{(?:peer|local)\}")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Words of a sentence, not of a command (checked before any `|` filter, whose patterns match
# output text and may be words).
_PROSE = re.compile(r"(?i)(?<![\w-])(?:then|if|e\.g\.|i\.e\.|etc|optionally|replace)(?![\w-])")
_COMMENT = re.compile(r"\s(?:#|!|//)")
UNKNOWN_PEER, UNKNOWN_LOCAL = "<peer-address>", "<this-box-address>"
# What PIX 6.x does not have, so a PIX set must not hold it.
PIX_LACKS = ("ikev2", "tunnel-group", "show asp", "control-plane")


class CommandError(ValueError):
    """One line saying which item of which platform is wrong and how."""


@dataclass(frozen=True)
class Command:
    command: str
    where: str = "local"
    mode: str = "exec"
    path: tuple[str, ...] = ()
    note: str | None = None
    source: str | None = None  # the URL that backs it
    unverified: str | None = None  # why it is not backed by a source

    def to_json(self) -> dict:
        return {**asdict(self), "path": list(self.path)}

    @classmethod
    def from_json(cls, value: object) -> Command:
        """A stored item; a plain string is an article stored before items had fields."""
        if isinstance(value, str):
            return cls(command=value, unverified="stored in the old article format")
        fields = {k: v for k, v in dict(value).items() if k in ITEM_KEYS}  # type: ignore[arg-type]
        return cls(**{**fields, "path": tuple(fields.get("path") or ())})


def none_known(platform: str | None) -> str:
    return f"no command known for {platform or 'an unknown platform'}"


# -- validation -----------------------------------------------------------------------------
def _runnable(text: object, what: str, ui: bool = False) -> str:
    """A line that pastes: no prose, annotations, arrows or padding inside it."""
    if not isinstance(text, str) or not text.strip():
        raise CommandError(f"{what} must be non-empty text")
    if text != text.strip() or "\n" in text:
        raise CommandError(f"{what} must be one line without surrounding spaces")
    problems = [
        ("->" in text, "has '->' in it"),
        ("  " in text, "has a run of spaces (an annotation?) in it"),
        (text[0] in "[(", "starts with a bracket (an annotation?)"),
        (text.endswith("."), "ends with a full stop: prose, not a command"),
        (
            "{" in _FILLED.sub("", text) or "}" in _FILLED.sub("", text),
            "has braces other than {peer} and {local}",
        ),
        (
            not ui and not (text[0].islower() or text[0].isdigit()),
            "must start like a command (a lower-case word)",
        ),
    ]
    for bad, why in problems:
        if bad:
            raise CommandError(f"{what} {why}: {text[:80]!r}")
    if not ui:
        for why in pasting_problems(text):
            raise CommandError(f"{what} {why}: {text[:80]!r}")
    return text


def pasting_problems(line: str) -> list[str]:
    """Why a command line would not paste as it is, if it would not (empty: it would)."""
    bare = _QUOTED.sub("''", line)
    named = _FILLED.sub("x", NAMED.sub("x", bare))
    command = named.split("|", 1)[0]
    problems = []
    if any(not NAMED.fullmatch(p) for p in PLACEHOLDER.findall(bare)):
        problems.append("has a placeholder not named in lower case (write <crypto-map-name>)")
    if any(c in named for c in "<>[](){}"):
        problems.append("has a bracket that is no <placeholder> (an annotation?)")
    if "->" in line or "→" in line:
        problems.append("has an arrow in it")
    if _PROSE.search(command):
        problems.append("has prose in it (then, if, e.g.): put it in the note")
    if _COMMENT.search(bare) or bare.startswith(("#", "!")):
        problems.append("has a comment in it: put it in the note")
    return problems


def _item(value: object, platform: str, n: int, sources: Sequence[str], named: Mapping) -> Command:
    where_ = f"{platform} item {n}"
    if not isinstance(value, dict):
        raise CommandError(
            f"{where_}: write a mapping {{command: ..., source: NAME}} (or unverified: WHY)"
        )
    unknown = sorted(set(value) - set(ITEM_KEYS))
    if unknown:
        raise CommandError(f"{where_}: unknown field(s) {unknown}")
    where = value.get("where", "local")
    mode = value.get("mode", "exec")
    if where not in WHERE:
        raise CommandError(f"{where_}: where must be one of {', '.join(WHERE)}, not {where!r}")
    if mode not in MODES:
        raise CommandError(f"{where_}: mode must be one of {', '.join(MODES)}, not {mode!r}")
    ui = mode == "ui"
    path = value.get("path") or []
    if not isinstance(path, list):
        raise CommandError(f"{where_}: path must be a list of lines")
    path = tuple(_runnable(p, f"{where_} path", ui) for p in path)
    command = _runnable(value.get("command"), f"{where_} command", ui)
    _platform_rules(platform, where_, where, mode, path, command)
    source, unverified = value.get("source"), value.get("unverified")
    if (source is None) == (unverified is None):
        raise CommandError(f"{where_}: give one of source (a name in sources) or unverified")
    if unverified is not None and (not isinstance(unverified, str) or not unverified.strip()):
        raise CommandError(f"{where_}: unverified must say why")
    if source is not None:
        url = named.get(source, source) if isinstance(source, str) else None
        if url not in sources:
            raise CommandError(f"{where_}: source {source!r} is not one of the article's sources")
        source = url
    note = value.get("note")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise CommandError(f"{where_}: note must be text")
    return Command(command, where, mode, path, note, source, unverified)


def _platform_rules(
    platform: str, what: str, where: str, mode: str, path: tuple, command: str
) -> None:
    if mode == "config" and not path:
        raise CommandError(f"{what}: a config command needs the path that enters its mode")
    if mode == "exec" and path:
        raise CommandError(f"{what}: an exec command has no path")
    if where in ("fmc", "fdm") and (platform != "ftd" or mode != "ui"):
        raise CommandError(f"{what}: where {where} is for FTD settings made in the UI (mode ui)")
    if platform == "ftd" and mode == "config":
        raise CommandError(
            f"{what}: FTD is configured in FMC or FDM, never with ASA configuration commands"
        )
    if platform == "pix":
        text = " ".join((*path, command)).lower()
        lacks = [word for word in PIX_LACKS if word in text]
        if lacks:
            raise CommandError(f"{what}: PIX 6.x has no {lacks[0]}")


def parse_commands(
    value: object, sources: Sequence[str], named: Mapping[str, str]
) -> dict[str, tuple[Command, ...]]:
    """A `verify:` or `fix:` block: platform -> commands, each checked."""
    if not isinstance(value, dict) or not value:
        raise CommandError(f"must map platforms ({', '.join(PLATFORMS)}) to command lists")
    unknown = sorted(set(value) - set(PLATFORMS))
    if unknown:
        raise CommandError(
            f"unknown platform key(s) {unknown}; known: {', '.join(PLATFORMS)} "
            "(prose for every platform belongs in the article's text)"
        )
    out = {}
    for platform, items in value.items():
        if not isinstance(items, list) or not items:
            raise CommandError(f"{platform}: must be a non-empty list of commands")
        out[platform] = tuple(
            _item(item, platform, n, sources, named) for n, item in enumerate(items, 1)
        )
    return out


# -- rendering ------------------------------------------------------------------------------
def _fill(text: str, peer: str | None, local: str | None) -> str:
    return text.replace("{peer}", peer or UNKNOWN_PEER).replace("{local}", local or UNKNOWN_LOCAL)


def _closing(platform: str, levels: Sequence[str], leaving: bool) -> list[str]:
    """The lines that leave `levels` (outermost first): all of config mode when `leaving`."""
    if platform == "fortigate":
        words = {"edit": "next", "config": "end"}
        return [words[p.split()[0]] for p in reversed(levels) if p.split()[0] in words]
    if platform in ("ios", "asa") and levels:
        return ["end"] if leaving else ["exit"] * len(levels)
    if platform == "pix":  # PIX 6.x leaves configuration mode with exit; it has no end
        return ["exit"] * len(levels)
    return []


def _ui_line(item: Command, path: Sequence[str], command: str) -> str:
    place = {"fmc": "FMC", "fdm": "FDM"}.get(item.where, "Web interface")
    return f"{place}: {' > '.join((*path, command))}"


def render(
    items: Iterable[Command], platform: str | None, peer: str | None, local: str | None
) -> list[str]:
    """The lines to paste, in order: each config command inside the mode its path enters
    (consecutive commands sharing a path share its lines), and the lines that leave it."""
    items = list(items)
    if not items or platform is None:
        return [none_known(platform)]
    lines: list[str] = []
    open_path: tuple[str, ...] = ()
    open_where = None

    def close() -> None:
        nonlocal open_path
        lines.extend(_closing(platform, open_path, leaving=True))
        open_path = ()

    for item in items:
        command = _fill(item.command, peer, local)
        path = tuple(_fill(p, peer, local) for p in item.path)
        if item.mode != "config" or item.where != open_where:
            close()
        if item.mode == "ui":
            lines.append(_ui_line(item, path, command))
        elif item.mode == "exec":
            lines.append(command)
        else:
            shared = 0
            while shared < min(len(open_path), len(path)) and open_path[shared] == path[shared]:
                shared += 1
            if shared < len(open_path):
                lines.extend(_closing(platform, open_path[shared:], leaving=shared == 0))
            lines.extend(path[shared:])
            lines.append(command)
            open_path, open_where = path, item.where
    close()
    return lines


def render_by_where(
    items: Iterable[Command], platform: str | None, peer: str | None, local: str | None
) -> list[tuple[str, list[str]]]:
    """The lines to paste, in runs of consecutive items that run in the same place and mode,
    each with that place in words ("on the peer 198.51.100.7 (the sender of the packets)"); a
    platform without commands is one run with no place."""
    items = list(items)
    if not items or platform is None:
        return [("", [none_known(platform)])]
    runs: list[list[Command]] = []
    for item in items:
        # A run is one place and one mode: commands to run now never share a block with the
        # configuration that prevents a next time.
        if runs and (runs[-1][0].where, runs[-1][0].mode) == (item.where, item.mode):
            runs[-1].append(item)
        else:
            runs.append([item])
    return [
        (where_text(run[0].where, peer, local), render(run, platform, peer, local)) for run in runs
    ]


def where_text(where: str, peer: str | None, local: str | None) -> str:
    return {
        "local": f"on this box ({local or 'the one that logged the error'})",
        "peer": f"on the peer {peer or ''} (the sender of the packets)".replace("  ", " "),
        "both": "on both ends",
        "fmc": "in FMC (Firepower Management Center)",
        "fdm": "in FDM (Firepower Device Manager)",
    }[where]


def structured(
    kind: str, items: Iterable[Command], platform: str | None, peer: str | None, local: str | None
) -> list[dict]:
    """The commands as data, for JSON and for renderers that group them by where they run."""
    out = []
    for item in items:
        command = _fill(item.command, peer, local)
        path = [_fill(p, peer, local) for p in item.path]
        out.append(
            {
                "kind": kind,
                "platform": platform,
                "where": item.where,
                "where_text": where_text(item.where, peer, local),
                "mode": item.mode,
                "path": path,
                "command": command,
                "placeholders": sorted(set(PLACEHOLDER.findall(" ".join((*path, command))))),
                "note": item.note,
                "source": item.source,
                "verified": item.unverified is None,
            }
        )
    return out


# -- blocks that paste -----------------------------------------------------------------------
MODE_ORDER = {"exec": 0, "config": 1, "ui": 2}  # run now first, then what prevents a next time


@dataclass(frozen=True)
class Section:
    """One block to paste as it is, in one place: `exec` lines to run now; `config` lines that
    enter their mode (`heading` says which: "configure terminal → crypto ikev2 profile
    <ikev2-profile-name>"), set it and leave it; or `ui` settings on the page `heading` names
    (not pasted: shown as text)."""

    kind: str  # verify | fix
    platform: str | None
    where: str
    where_text: str
    mode: str
    heading: str
    lines: tuple[str, ...]
    placeholders: tuple[str, ...]

    def to_dict(self) -> dict:
        return {**asdict(self), "lines": list(self.lines), "placeholders": list(self.placeholders)}


def sections(items: Iterable[Mapping], kind: str | None = None) -> list[Section]:
    """Commands as `structured` gives them (a CAUSE's `commands` in JSON), of one kind or
    both, in blocks: verify before fix, and within each the commands to run now first, then
    configuration grouped by where it runs and the mode path it is made in. Each config block
    enters its mode from the exec prompt and leaves it, so it pastes on its own."""
    groups: dict[tuple, list[Mapping]] = {}
    for item in items:
        if kind is not None and item["kind"] != kind:
            continue
        path = tuple(item["path"]) if item["mode"] != "exec" else ()
        key = (item["kind"] != "verify", MODE_ORDER.get(item["mode"], 3), item["where"], path)
        groups.setdefault(key, []).append(item)
    out = []
    for key in sorted(groups, key=lambda k: (k[0], k[1])):  # stable: article order otherwise
        run = groups[key]
        first = run[0]
        platform, mode, path = first["platform"], first["mode"], list(key[3])
        commands = [i["command"] for i in run]
        if mode == "config":
            lines = [*path, *commands, *_closing(platform or "", path, leaving=True)]
            heading = " → ".join(path)
        elif mode == "ui":
            place = {"fmc": "FMC", "fdm": "FDM"}.get(first["where"], "Web interface")
            lines, heading = commands, f"{place}: {' → '.join(path)}"
        else:
            lines, heading = commands, ""
        out.append(
            Section(
                kind=first["kind"],
                platform=platform,
                where=first["where"],
                where_text=first["where_text"],
                mode=mode,
                heading=heading,
                lines=tuple(lines),
                placeholders=tuple(sorted({p for i in run for p in i["placeholders"]})),
            )
        )
    return out
