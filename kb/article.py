"""Cause articles: Markdown files with YAML front-matter, validated on load.

`spibot kb sync DIR` reads whatever a directory holds, so reading is bounded: regular files
only (a FIFO or a link to /dev/zero would hang it), a size cap, and front-matter without YAML
aliases and with capped nesting and node count (an alias bomb expands exponentially).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from kb.commands import (
    PLATFORMS,
    Command,
    CommandError,
    parse_commands,
    render,
    render_by_where,
    structured,
)
from kb.errors import ArticleError
from kb.signals import signals

ARTICLES_DIR = Path(str(resources.files("kb") / "articles"))
REQUIRED_IDS = (
    "rekey-race",
    "sa-out-of-sync",
    "lifetime-mismatch",
    "ha-failover",
    "nat-traversal",
    "firewall-blocking",
    "packet-loss",
    "policy-mismatch",
    "unsolicited-esp",
    "software-defect",
)
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # a file name and a Slack button value
MAX_FILE_BYTES = 256 * 1024  # the largest bundled article is under 4 KB
MAX_FRONT_MATTER_CHARS = 64 * 1024
MAX_YAML_DEPTH = 16  # the bundled articles nest 4 deep
MAX_YAML_NODES = 5000  # and hold about 100 nodes each


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    summary: str
    body: str
    prior: float
    evidence: dict[str, float]
    aliases: tuple[str, ...] = ()
    verify: dict[str, tuple[Command, ...]] = field(default_factory=dict)
    fix: dict[str, tuple[Command, ...]] = field(default_factory=dict)
    caveats: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    checksum: str = ""
    # The answer's words (kb/answer.py). Optional: an article stored before they existed, or an
    # operator's own, falls back to its title, no action phrase and its first caveat.
    short: str = ""  # the cause for one peer in a few words: "SAs out of sync on {peer}"
    action: str = ""  # what to do, in a few words: "clear its SAs toward {local}"
    key_caveat: dict[str, str] = field(default_factory=dict)  # platform or "default" -> text
    caveat_platforms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # text -> them

    def commands(self, kind: str, platform: str | None, peer: str | None, local: str | None):
        """Verify or fix lines for a platform, addresses filled in, ready to paste; or one
        line saying that no command is known for it."""
        table = self.verify if kind == "verify" else self.fix
        return render(table.get(platform or "", ()), platform, peer, local)

    def commands_by_where(
        self, kind: str, platform: str | None, peer: str | None, local: str | None
    ) -> list[tuple[str, list[str]]]:
        """The same lines as `commands`, in runs by where they run (see kb.commands)."""
        table = self.verify if kind == "verify" else self.fix
        return render_by_where(table.get(platform or "", ()), platform, peer, local)

    def caveats_for(self, platform: str | None) -> list[str]:
        """The key caveat first, then the others that apply to the platform (all of them when
        it is unknown): an ASA remark is noise on an IOS paste."""
        key = self.key_caveat_for(platform)
        rest = [
            c
            for c in self.caveats
            if c != key
            and (platform is None or platform in self.caveat_platforms.get(c, (platform,)))
        ]
        return [key, *rest] if key else rest

    def key_caveat_for(self, platform: str | None) -> str | None:
        """The one caveat that must always be seen for this platform."""
        key = self.key_caveat.get(platform or "") or self.key_caveat.get("default")
        if key:
            return key
        shown = [c for c in self.caveats if platform in self.caveat_platforms.get(c, (platform,))]
        return shown[0] if shown else None

    def command_items(self, platform: str | None, peer: str | None, local: str | None):
        """The same commands as data: kind, where, mode, path, command, placeholders, source."""
        return [
            *structured("verify", self.verify.get(platform or "", ()), platform, peer, local),
            *structured("fix", self.fix.get(platform or "", ()), platform, peer, local),
        ]


class _BoundedLoader(yaml.SafeLoader):
    """safe_load without aliases, and with a cap on nesting depth and on nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not allowed")
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise yaml.YAMLError(f"more than {MAX_YAML_NODES} values")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"nested more than {MAX_YAML_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # One line: PyYAML's own message spans several, with a caret drawing.
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark:
        return f"{problem} (front-matter line {mark.line + 1})"
    return " ".join(str(exc).split())


def _split(path: Path, text: str) -> tuple[dict, str]:
    if not text.startswith("---\n"):
        raise ArticleError(path, "front-matter", "the file must start with a '---' line")
    end = text.find("\n---\n", 4)
    if end == -1:
        raise ArticleError(path, "front-matter", "no closing '---' line")
    if end > MAX_FRONT_MATTER_CHARS:
        raise ArticleError(path, "front-matter", f"longer than {MAX_FRONT_MATTER_CHARS} characters")
    try:
        meta = yaml.load(text[4:end], Loader=_BoundedLoader)  # a SafeLoader, bounded
    except yaml.YAMLError as exc:
        raise ArticleError(path, "front-matter", f"invalid YAML: {_yaml_problem(exc)}") from exc
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise ArticleError(path, "front-matter", f"invalid value: {exc}") from exc
    if not isinstance(meta, dict):
        raise ArticleError(path, "front-matter", "must be a mapping of fields")
    return meta, text[end + 5 :].strip()


def _strings(path: Path, meta: dict, name: str, required: bool = False) -> tuple[str, ...]:
    value = meta.get(name)
    if value is None:
        if required:
            raise ArticleError(path, name, "missing")
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ArticleError(path, name, "must be a list of non-empty strings")
    return tuple(value)


_FILLED = re.compile(r"\{(?:peer|local)\}")
MAX_PHRASE_CHARS = 80  # a phrase of a notification a phone shows in two lines


def _phrase(path: Path, meta: dict, name: str, needs_peer: bool = False) -> str:
    """`short` or `action`: a few words of plain text, `{peer}`/`{local}` the only fields."""
    value = meta.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
        raise ArticleError(path, name, "must be a few words on one line")
    value = value.strip()
    if "{" in _FILLED.sub("", value) or "}" in _FILLED.sub("", value):
        raise ArticleError(path, name, "only {peer} and {local} may be in braces")
    if len(_FILLED.sub("255.255.255.255", value)) > MAX_PHRASE_CHARS:
        raise ArticleError(path, name, f"longer than {MAX_PHRASE_CHARS} characters")
    if value.endswith("."):
        raise ArticleError(path, name, "is part of a sentence: no full stop")
    if needs_peer and value.count("{peer}") != 1:
        raise ArticleError(path, name, "must name the peer once, as {peer}")
    return value


def _key_caveat(path: Path, meta: dict) -> dict[str, str]:
    """`key_caveat`: one sentence, or a mapping of platforms (and `default`) to sentences."""
    value = meta.get("key_caveat")
    if value is None:
        return {}
    table = value if isinstance(value, dict) else {"default": value}
    unknown = sorted(set(table) - {*PLATFORMS, "default"})
    if unknown:
        raise ArticleError(path, "key_caveat", f"unknown platform key(s) {unknown}")
    if not table or not all(isinstance(v, str) and v.strip() for v in table.values()):
        raise ArticleError(path, "key_caveat", "must be a sentence (or map platforms to them)")
    return {k: " ".join(v.split()) for k, v in table.items()}


def _caveats(path: Path, meta: dict) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """(texts, text -> platforms): a caveat is a sentence, or {text, platforms} for one that
    holds on some platforms only."""
    value = meta.get("caveats")
    if value is None:
        return (), {}
    if not isinstance(value, list):
        raise ArticleError(path, "caveats", "must be a list")
    texts: list[str] = []
    platforms: dict[str, tuple[str, ...]] = {}
    for item in value:
        text, only = (
            (item.get("text"), item.get("platforms")) if isinstance(item, dict) else (item, None)
        )
        if isinstance(item, dict) and (
            set(item) != {"text", "platforms"} or not isinstance(only, list) or not only
        ):
            raise ArticleError(path, "caveats", "an item is text or {text, platforms: [...]}")
        if only is not None and set(only) - set(PLATFORMS):
            raise ArticleError(path, "caveats", f"unknown platform(s) in {only}")
        if not isinstance(text, str) or not text.strip():
            raise ArticleError(path, "caveats", "must be a list of non-empty strings")
        texts.append(text)
        if only is not None:
            platforms[text] = tuple(only)
    return tuple(texts), platforms


def _sources(path: Path, meta: dict) -> tuple[tuple[str, ...], dict[str, str]]:
    """(URLs, name -> URL): `sources` is a list of URLs, or a mapping of short names to URLs
    that commands cite by name."""
    value = meta.get("sources")
    named = value if isinstance(value, dict) else {}
    urls = list(named.values()) if named else value
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ArticleError(path, "sources", "must list https:// URLs (or map names to them)")
    if not all(isinstance(k, str) and k for k in named):
        raise ArticleError(path, "sources", "every name must be text")
    if not all(u.startswith("https://") for u in urls):
        raise ArticleError(path, "sources", "every source must be an https:// URL")
    return tuple(urls), named


def _commands(path: Path, meta: dict, name: str, sources: tuple, named: dict):
    try:
        return parse_commands(meta.get(name), sources, named)
    except CommandError as exc:
        raise ArticleError(path, name, str(exc)) from exc


def _number(path: Path, name: str, value: object, what: str) -> float:
    """A finite float: NaN or infinity in a weight makes every diagnosis raise."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ArticleError(path, name, f"{what} must be a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ArticleError(path, name, f"{what} must be a finite number, not {value!r:.20}")
    return number


def parse_article(path: Path, text: str) -> Article:
    meta, body = _split(path, text)
    for name in ("id", "title", "summary"):
        if not isinstance(meta.get(name), str) or not meta[name].strip():
            raise ArticleError(path, name, "missing or not text")
    if not ID_PATTERN.fullmatch(meta["id"]):
        raise ArticleError(
            path, "id", f"{meta['id'][:80]!r} is not a short slug (a-z, 0-9, '-'; 64 at most)"
        )
    if Path(path).stem != meta["id"]:
        raise ArticleError(path, "id", f"'{meta['id']}' does not match the file name")
    prior = _number(path, "prior", meta.get("prior", 0.0), "it")
    evidence = meta.get("evidence")
    if not isinstance(evidence, dict) or not evidence:
        raise ArticleError(path, "evidence", "must map signal names to weights")
    weights = {}
    for signal, weight in evidence.items():
        if signal not in signals():
            raise ArticleError(path, "evidence", f"unknown signal '{signal}'")
        weights[signal] = _number(path, "evidence", weight, f"the weight of '{signal}'")
    sources, named = _sources(path, meta)
    caveats, platforms = _caveats(path, meta)
    if not body:
        raise ArticleError(path, "body", "the article has no text after the front-matter")
    return Article(
        id=meta["id"],
        title=meta["title"].strip(),
        summary=" ".join(meta["summary"].split()),
        body=body,
        prior=prior,
        evidence=weights,
        aliases=_strings(path, meta, "aliases"),
        verify=_commands(path, meta, "verify", sources, named),
        fix=_commands(path, meta, "fix", sources, named),
        caveats=caveats,
        sources=sources,
        checksum=checksum(text),
        short=_phrase(path, meta, "short", needs_peer=True),
        action=_phrase(path, meta, "action"),
        key_caveat=_key_caveat(path, meta),
        caveat_platforms=platforms,
    )


def checksum(text: str) -> str:
    """What an article is compared by: a database row records the checksum of its text."""
    return hashlib.sha256(text.encode()).hexdigest()


def bundled_texts(directory: Path | str = ARTICLES_DIR) -> dict[str, tuple[Path, str]]:
    """id -> (file, text) of the bundled articles, read but not parsed: comparing checksums on
    every open is cheap, and only an article that changed is parsed."""
    return {
        path.stem: (path, read_article_file(path)) for path in sorted(Path(directory).glob("*.md"))
    }


def load_articles(directory: Path | str = ARTICLES_DIR) -> list[Article]:
    """Every article in a directory, validated; duplicate ids are an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArticleError(directory, "directory", "not a directory of articles")
    articles: dict[str, Article] = {}
    for path in sorted(directory.glob("*.md")):
        article = parse_article(path, read_article_file(path))
        if article.id in articles:
            raise ArticleError(path, "id", f"duplicate id '{article.id}'")
        articles[article.id] = article
    if not articles:
        raise ArticleError(directory, "directory", "holds no *.md articles")
    return list(articles.values())


def read_article_file(path: Path) -> str:
    """The text of one article file, refusing what is not a small regular UTF-8 file."""
    try:
        found = os.stat(path)  # before opening: opening a FIFO blocks until a writer comes
    except OSError as exc:
        raise ArticleError(path, "file", f"cannot read it: {exc.strerror}") from exc
    if not stat.S_ISREG(found.st_mode):
        raise ArticleError(path, "file", "not a regular file (a FIFO, a device or a directory)")
    if found.st_size > MAX_FILE_BYTES:
        raise ArticleError(path, "file", f"larger than {MAX_FILE_BYTES // 1024} KB")
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since the stat, open does not wait.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ArticleError(path, "file", "not a regular file")
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ArticleError(path, "file", f"cannot read it: {exc.strerror}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ArticleError(path, "file", f"larger than {MAX_FILE_BYTES // 1024} KB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(path, "file", f"not UTF-8 text ({exc.reason})") from exc
