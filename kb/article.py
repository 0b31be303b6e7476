"""Cause articles: Markdown files with YAML front-matter, validated on load."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from kb.signals import SIGNALS

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
PLATFORMS = ("ios", "asa", "ftd", "pix", "fortigate", "panos", "screenos")
COMMAND_KEYS = ("ios", "asa", "any")
# Which command set serves which platform; FTD and PIX take the ASA's commands.
COMMAND_SET = {"ios": "ios", "asa": "asa", "ftd": "asa", "pix": "asa"}


class ArticleError(ValueError):
    """An article that does not validate, naming the file and the field."""

    def __init__(self, path: Path | str, field: str, message: str) -> None:
        super().__init__(f"{path}: field '{field}': {message}")
        self.path, self.field = str(path), field


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    summary: str
    body: str
    prior: float
    evidence: dict[str, float]
    aliases: tuple[str, ...] = ()
    platforms: tuple[str, ...] = PLATFORMS
    verify: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fix: dict[str, tuple[str, ...]] = field(default_factory=dict)
    caveats: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    checksum: str = ""

    def commands(self, kind: str, platform: str | None, peer: str | None, local: str | None):
        """Verify or fix commands for a platform, with the addresses filled in."""
        table = self.verify if kind == "verify" else self.fix
        chosen = COMMAND_SET.get(platform or "")
        keys = [chosen, "any"] if chosen else ["ios", "asa", "any"]
        out = []
        for key in keys:
            for command in table.get(key, ()):
                text = command.replace("{peer}", peer or "<peer>")
                text = text.replace("{local}", local or "<local>")
                out.append(text if chosen else f"{key.upper()}: {text}")
        return out


def _split(path: Path, text: str) -> tuple[dict, str]:
    if not text.startswith("---\n"):
        raise ArticleError(path, "front-matter", "the file must start with a '---' line")
    end = text.find("\n---\n", 4)
    if end == -1:
        raise ArticleError(path, "front-matter", "no closing '---' line")
    try:
        meta = yaml.safe_load(text[4:end])
    except yaml.YAMLError as exc:
        raise ArticleError(path, "front-matter", f"invalid YAML: {exc}") from exc
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


def _commands(path: Path, meta: dict, name: str) -> dict[str, tuple[str, ...]]:
    value = meta.get(name)
    if not isinstance(value, dict) or not value:
        raise ArticleError(path, name, "must map platforms (ios, asa, any) to command lists")
    unknown = set(value) - set(COMMAND_KEYS)
    if unknown:
        raise ArticleError(path, name, f"unknown platform key(s) {sorted(unknown)}")
    return {key: _strings(path, value, key, required=True) for key in value}


def parse_article(path: Path, text: str) -> Article:
    meta, body = _split(path, text)
    for name in ("id", "title", "summary"):
        if not isinstance(meta.get(name), str) or not meta[name].strip():
            raise ArticleError(path, name, "missing or not text")
    if Path(path).stem != meta["id"]:
        raise ArticleError(path, "id", f"'{meta['id']}' does not match the file name")
    prior = meta.get("prior", 0.0)
    if not isinstance(prior, int | float) or isinstance(prior, bool):
        raise ArticleError(path, "prior", "must be a number")
    evidence = meta.get("evidence")
    if not isinstance(evidence, dict) or not evidence:
        raise ArticleError(path, "evidence", "must map signal names to weights")
    for signal, weight in evidence.items():
        if signal not in SIGNALS:
            raise ArticleError(path, "evidence", f"unknown signal '{signal}'")
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise ArticleError(path, "evidence", f"weight of '{signal}' must be a number")
    platforms = _strings(path, meta, "platforms") or PLATFORMS
    if bad := set(platforms) - set(PLATFORMS):
        raise ArticleError(path, "platforms", f"unknown platform(s) {sorted(bad)}")
    sources = _strings(path, meta, "sources", required=True)
    if not all(s.startswith("https://") for s in sources):
        raise ArticleError(path, "sources", "every source must be an https:// URL")
    if not body:
        raise ArticleError(path, "body", "the article has no text after the front-matter")
    return Article(
        id=meta["id"],
        title=meta["title"].strip(),
        summary=" ".join(meta["summary"].split()),
        body=body,
        prior=float(prior),
        evidence={k: float(v) for k, v in evidence.items()},
        aliases=_strings(path, meta, "aliases"),
        platforms=platforms,
        verify=_commands(path, meta, "verify"),
        fix=_commands(path, meta, "fix"),
        caveats=_strings(path, meta, "caveats"),
        sources=sources,
        checksum=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_articles(directory: Path | str = ARTICLES_DIR) -> list[Article]:
    """Every article in a directory, validated; duplicate ids are an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArticleError(directory, "directory", "not a directory of articles")
    articles: dict[str, Article] = {}
    for path in sorted(directory.glob("*.md")):
        article = parse_article(path, path.read_text(encoding="utf-8"))
        if article.id in articles:
            raise ArticleError(path, "id", f"duplicate id '{article.id}'")
        articles[article.id] = article
    if not articles:
        raise ArticleError(directory, "directory", "holds no *.md articles")
    return list(articles.values())
