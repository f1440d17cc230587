"""Item identity within a source and across sources (pure: no I/O).

Within a source an item is its guid, else its canonical link, else a hash of title and date. Across
sources, items sharing a canonical link form one cluster, published once; the earliest-published copy
is the one credited, the others are listed with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from aggregator.models import Item

_EPOCH = datetime.min.replace(tzinfo=UTC)


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


#: Longer identities are stored as their hash: an index entry has a size limit (PostgreSQL's is ~2.7 kB).
MAX_KEY = 512


def _bounded(key: str) -> str:
    return key if len(key) <= MAX_KEY else "sha1:" + _digest(key)


def item_key(guid: str | None, canonical: str | None, title: str, date: datetime | None) -> str:
    if guid and guid.strip():
        return _bounded(guid.strip())
    if canonical:
        return _bounded(canonical)
    return "sha1:" + _digest(title, date.isoformat() if date else "")


def cluster_key(source: str, key: str, canonical: str | None) -> str:
    return _bounded(canonical if canonical else f"{source}\x1f{key}")


def content_hash(*fields: str | None) -> str:
    """Ignores nothing we publish and everything we do not, so an unchanged item never looks changed."""
    return _digest(*(f or "" for f in fields))


def _freshness(item: Item) -> datetime:
    return item.updated or item.published or _EPOCH


def collapse_repeats(items: Iterable[Item]) -> list[Item]:
    """One item per key within a feed: the freshest copy wins, the first position is kept."""
    chosen: dict[str, Item] = {}
    for item in items:
        current = chosen.get(item.key)
        if current is None or _freshness(item) > _freshness(current):
            chosen[item.key] = item
    return list(chosen.values())


def primary(members: Sequence[tuple[Item, datetime]]) -> int:
    """Index of the copy to credit: earliest published (first seen when undated), then source name."""
    return min(
        range(len(members)),
        key=lambda i: (members[i][0].published or members[i][1], members[i][0].source, members[i][0].key),
    )
