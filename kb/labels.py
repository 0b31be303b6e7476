"""A folder of labelled cases for `spibot eval`: reading `labels.json` and checking it.

    DIR/labels.json   {"<file or folder>": {"top1": [cause ids accepted], "peer": str|null,
                       "spi": "0x%08X"|null, "platform": str, "source": str,
                       "peers": {"<peer>": [cause ids]}, "note": str,
                       "confirmed": [cause ids], "findings": [finding kinds]}}
    DIR/<case>.txt    one paste
    DIR/<case>/       one paste made of every file in the folder, read in name order

`confirmed` (cases with device state): the top cause must be one of these and carry confidence
"confirmed"; `[]`: nothing may be confirmed (the state contradicts the log, or comes from a box
that is neither end). `findings`: kinds of kb/state/findings.py the diagnosis must hold.
(docs/contracts.md, tests/cases/README.md.) This is the one place the labels are validated:
every problem is one line naming the case, and all of them are reported together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kb.commands import PLATFORMS
from kb.events import canonical_ip
from kb.scan import read_chunks
from kb.state.findings import FINDING_KINDS

LABELS_FILE = "labels.json"
# The platforms the recognisers report (docs/contracts.md, EVENT "platform").
REQUIRED_KEYS = ("top1", "peer", "spi", "platform", "source")
OPTIONAL_KEYS = ("peers", "note", "confirmed", "findings")
MAX_LABELS_BYTES = 4 << 20
SPI_FORMAT = re.compile(r"0x[0-9A-F]{8}")  # as EVENT "spi" prints it


class LabelError(ValueError):
    """Labels that do not hold: `problems` has one line per problem, each naming its case."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Label:
    """What a correct diagnosis of one case says."""

    case: str  # the file or folder name, as in labels.json
    top1: tuple[str, ...]  # causes accepted first (for the busiest peer)
    peer: str | None  # the busiest peer; None: it must be reported unknown
    spi: str | None  # that peer's SPI, "0x%08X"; None: it must be reported unknown
    platform: str
    source: str
    peers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # multi-peer cases only
    note: str = ""
    # None: not scored; (): nothing may be confirmed; else the causes that may be, first
    confirmed: tuple[str, ...] | None = None
    findings: tuple[str, ...] = ()  # finding kinds the diagnosis must hold

    @property
    def multi_peer(self) -> bool:
        return bool(self.peers)


def load_labels(directory: Path | str, causes: Iterable[str]) -> list[Label]:
    """The labels of every case in `directory`, in labels.json order, checked against the
    known cause ids; LabelError listing every problem otherwise."""
    root = Path(directory)
    known = set(causes)
    raw = _read_json(root / LABELS_FILE)
    problems: list[str] = []
    labels = []
    for name, entry in raw.items():
        found = _check(root, name, entry, known)
        if found:
            problems.extend(f"{LABELS_FILE}: {name}: {p}" for p in found)
        else:
            labels.append(_label(name, entry))
    problems.extend(_unlabelled(root, raw))
    if problems:
        raise LabelError(problems)
    return labels


def case_path(directory: Path | str, case: str) -> Path:
    return Path(directory) / case.rstrip("/")


def case_files(path: Path) -> list[Path]:
    """The files of a case: the file itself, or a folder's files in name order."""
    if path.is_file():
        return [path]
    return sorted(
        (p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.relative_to(path).as_posix(),
    )


def case_chunks(path: Path) -> Iterator[bytes]:
    """The paste of a case as byte chunks, read as `spibot diagnose FILE` reads a file; a
    folder's files follow one another, each starting on a new line."""
    for file in case_files(path):
        last = b"\n"
        with open(file, "rb") as stream:
            for chunk in read_chunks(stream):
                if chunk:
                    last = chunk[-1:]
                yield chunk
        if last != b"\n":
            yield b"\n"


def _read_json(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_LABELS_BYTES + 1)
    except OSError as exc:
        raise LabelError([f"{path}: cannot read it: {exc.strerror}"]) from exc
    if len(data) > MAX_LABELS_BYTES:
        raise LabelError([f"{path}: larger than {MAX_LABELS_BYTES >> 20} MB"])
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LabelError([f"{path}: not valid JSON: {exc}"]) from exc
    if not isinstance(raw, dict) or not raw:
        raise LabelError([f"{path}: must be a non-empty object of case name -> label"])
    return raw


def _label(name: str, entry: dict) -> Label:
    return Label(
        case=name,
        top1=tuple(entry["top1"]),
        peer=entry["peer"],
        spi=entry["spi"],
        platform=entry["platform"],
        source=entry["source"],
        peers={p: tuple(c) for p, c in (entry.get("peers") or {}).items()},
        note=entry.get("note", ""),
        confirmed=tuple(entry["confirmed"]) if "confirmed" in entry else None,
        findings=tuple(entry.get("findings") or ()),
    )


def _check(root: Path, name: str, entry: object, known: set[str]) -> list[str]:
    """Every problem with one label, each a phrase (the caller names the case)."""
    if not isinstance(entry, dict):
        return ["the label must be an object"]
    problems = []
    missing = [k for k in REQUIRED_KEYS if k not in entry]
    extra = sorted(k for k in entry if k not in REQUIRED_KEYS + OPTIONAL_KEYS)
    if missing:
        problems.append(f"missing key(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unknown key(s) {', '.join(extra)}")
    text, problem = _paste_text(root, name)
    if problem:
        problems.append(problem)
    problems += _causes("top1", entry.get("top1"), known)
    platform = entry.get("platform")
    if "platform" in entry and platform not in PLATFORMS:
        problems.append(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    if "source" in entry and (not isinstance(entry["source"], str) or not entry["source"].strip()):
        problems.append("source must name the public source the case was built from")
    if not isinstance(entry.get("note", ""), str):
        problems.append("note must be a string")
    problems += _peer("peer", entry.get("peer"), text)
    problems += _spi(entry.get("spi"), text)
    if "peers" in entry:
        problems += _peers(entry, text, known)
    if "confirmed" in entry:
        problems += _confirmed(entry["confirmed"], entry.get("top1"), known)
    if "findings" in entry:
        problems += _findings(entry["findings"])
    return problems


def _paste_text(root: Path, name: str) -> tuple[str | None, str | None]:
    """The case's text for checking that labelled values appear in it, or a problem."""
    path = case_path(root, name)
    try:
        inside = path.resolve().is_relative_to(root.resolve()) and name.strip("/") not in ("", ".")
    except OSError:
        inside = False
    if not inside:
        return None, "must name a file or folder inside the cases folder"
    if not path.exists():
        return None, f"file or folder {path} does not exist"
    if path.is_file() and path.suffix != ".txt":
        return None, "a paste file must end in .txt"
    files = case_files(path)
    if not files:
        return None, f"folder {path} holds no files"
    try:
        return "\n".join(f.read_bytes().decode("utf-8", "replace") for f in files), None
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror}"


def _causes(key: str, value: object, known: set[str]) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        return [f"{key} must be a non-empty list of cause ids"]
    unknown = [c for c in value if c not in known]
    if unknown:
        return [
            f"{key}: unknown cause id(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        ]
    if len(set(value)) != len(value):
        return [f"{key} lists a cause twice"]
    return []


def _confirmed(value: object, top1: object, known: set[str]) -> list[str]:
    """`confirmed`: [] or known cause ids; a confirmed cause goes first, so top1 accepts it."""
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        return ["confirmed must be a list of cause ids ([]: nothing may be confirmed)"]
    if not value:
        return []
    problems = _causes("confirmed", value, known)
    if problems:
        return problems
    outside = [c for c in value if isinstance(top1, list) and c not in top1]
    if outside:
        return [f"confirmed: {', '.join(outside)} not in top1 (a confirmed cause is ranked first)"]
    return []


def _findings(value: object) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
        return [f"findings must be a non-empty list of finding kinds ({', '.join(FINDING_KINDS)})"]
    unknown = [k for k in value if k not in FINDING_KINDS]
    if unknown:
        return [
            f"findings: unknown kind(s) {', '.join(unknown)} (known: {', '.join(FINDING_KINDS)})"
        ]
    if len(set(value)) != len(value):
        return ["findings lists a kind twice"]
    return []


def _peer(key: str, value: object, text: str | None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str) or canonical_ip(value) != value:
        return [f"{key} {value!r} is not an IP address in canonical form (or null)"]
    if text is not None and value not in text:
        return [f"{key} {value} does not appear in the paste"]
    return []


def _spi(value: object, text: str | None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str) or not SPI_FORMAT.fullmatch(value):
        return [f"spi {value!r} is not written 0x%08X (for example 0x0A1B2C3D), or null"]
    if text is not None and not _spi_in(value, text):
        return [f"spi {value} does not appear in the paste (in hex or decimal)"]
    return []


def _spi_in(spi: str, text: str) -> bool:
    number = int(spi, 16)
    lowered = text.lower()
    return any(f in lowered for f in (f"{number:08x}", f"{number:x}", str(number)))


def _peers(entry: dict, text: str | None, known: set[str]) -> list[str]:
    peers = entry["peers"]
    if not isinstance(peers, dict) or len(peers) < 2:
        return ["peers must map at least two peer addresses to their causes (or be left out)"]
    problems = []
    for peer, causes in peers.items():
        problems += _peer(f"peers key {peer}", peer, text) if peer != "" else ["empty peers key"]
        problems += _causes(f"peers[{peer}]", causes, known)
    busiest, top1 = entry.get("peer"), entry.get("top1")
    if busiest is not None and busiest not in peers:
        problems.append(f"the busiest peer {busiest} is missing from peers")
    elif busiest is not None and isinstance(top1, list) and set(peers[busiest]) != set(top1):
        problems.append(f"top1 must equal the causes of the busiest peer {busiest} in peers")
    return problems


def _unlabelled(root: Path, raw: dict) -> list[str]:
    """Pastes in the folder that labels.json does not mention: a forgotten label."""
    labelled = {name.rstrip("/") for name in raw}
    found = []
    for path in sorted(root.iterdir()):
        if path.name.startswith((".", "_")) or path.name in labelled:
            continue
        if path.is_dir() or path.suffix == ".txt":
            found.append(f"{LABELS_FILE}: {path.name}: a paste in the folder with no label")
    return found
