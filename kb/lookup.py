"""`/spi` and `spibot lookup`: a peer address, an SPI, a device name or free text."""

from __future__ import annotations

import re

from rapidfuzz import fuzz, utils

from kb.events import canonical_ip
from kb.store import Store

_HEX_SPI = re.compile(r"(?:0x)?([0-9a-fA-F]{1,8})")
FTS_BONUS = 20.0
MIN_ARTICLE_SCORE = 60.0


def classify(query: str) -> tuple[str, str]:
    """(kind, normalised query): peer, spi, or text (devices are told apart by the store)."""
    query = query.strip()
    ip = canonical_ip(query)
    if ip is not None and ("." in query or ":" in query):
        return "peer", ip
    m = _HEX_SPI.fullmatch(query)
    if m and (query.lower().startswith("0x") or len(m.group(1)) == 8):
        return "spi", f"0x{int(m.group(1), 16):08X}"
    if query.isdigit() and 256 <= int(query) <= 0xFFFFFFFF:
        return "spi", f"0x{int(query):08X}"
    return "text", query


def rank_articles(store: Store, query: str, limit: int = 5) -> list[dict]:
    """Articles for free text: fuzzy title/alias match, plus a bonus for full-text hits."""
    scores: dict[str, float] = {}
    for article in store.articles():
        names = [article.title, *article.aliases]
        best = max(fuzz.token_set_ratio(query, n, processor=utils.default_process) for n in names)
        title = fuzz.token_set_ratio(query, article.title, processor=utils.default_process)
        scores[article.id] = max(title, 0.9 * best)
    for position, row in enumerate(store.search_articles(query)):
        scores[row["id"]] = scores.get(row["id"], 0.0) + FTS_BONUS - position
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    out = []
    for article_id, score in ranked[:limit]:
        if score < MIN_ARTICLE_SCORE:
            break
        article = store.article(article_id)
        out.append(
            {
                "id": article.id,
                "title": article.title,
                "summary": article.summary,
                "score": round(score, 1),
            }
        )
    return out


def lookup(store: Store, query: str, limit: int = 20) -> dict:
    kind, value = classify(query)
    result: dict = {"query": query, "kind": kind, "articles": [], "incidents": []}
    if kind == "peer":
        result["incidents"] = store.history([value], [value], limit=limit)
    elif kind == "spi":
        result["incidents"] = store.history([], spis=[value], limit=limit)
    else:
        matches = store.similar_devices(value)
        if matches:
            result["kind"] = "device"
            result["devices"] = matches
            result["incidents"] = store.incidents_on_devices(matches, limit)
        else:
            result["articles"] = rank_articles(store, value)
            ids = []
            for row in store.search_notes(value, limit=limit):
                if row["incident_id"] not in ids:
                    ids.append(row["incident_id"])
            result["incidents"] = [store.incident(i) for i in ids]
    result["incidents"] = [i.to_dict() for i in result["incidents"]]
    return result
