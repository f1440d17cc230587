"""Item identity within a source and across sources (pure: no I/O).

Within a source an item is its guid, else its canonical link, else a hash of title and date. Across
sources, items sharing a canonical link form one cluster, published once; the earliest-published copy
is the one credited, the others are listed with it.

A syndicated copy under another URL with a lightly edited headline ("BREAKING: ...", "... - Site",
case, punctuation, an ellipsis, a synonym) is found by two keys: its headline reduced to words, and
the first words of its text (an excerpt and the full article share them). A candidate joins the
story only past the guards that keep apart different stories written from one headline template:
the headlines' numbers agree, their dates are within a week, and the headlines are similar (token
set similarity, RapidFuzz) when only the text matched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from rapidfuzz import fuzz

from aggregator.models import Item
from aggregator.normalise import fold, visible_text

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


# --- near-duplicates ----------------------------------------------------------------------------------

LEAD_WORDS = 12  # words of text that identify an article: past any dateline, short of an excerpt's end
MIN_TITLE_WORDS = 3
SHINGLE = 4  # words per shingle when comparing texts
SHINGLED_WORDS = 150  # only the start of a text is compared: enough to tell articles apart, cheap to keep
SIMILAR_TEXT = 0.85  # share of the shorter text's shingles found in the other
SIMILAR_TITLES = 80  # token set similarity (0-100) of the headlines
WINDOW = timedelta(hours=12)  # copies of a story appear within hours; a same-headline story days apart is another

_TOKEN = re.compile(r"\w+")
_PREFIX = re.compile(
    r"^(?:breaking|update|updated|exclusive|eksklusif|terbaru|video|foto|live)\s*[:|\-\u2013\u2014]\s*"
)
_SUFFIX = re.compile(r"\s+[|\-\u2013\u2014]\s+[^|\-\u2013\u2014]{1,60}$")  # " - Site name"


@lru_cache(maxsize=8192)  # candidates recur from batch to batch
def title_words(title: str) -> tuple[str, ...]:
    """A headline reduced to its words: folded, without a "BREAKING:" prefix or a " - Site" suffix."""
    text = _PREFIX.sub("", fold(title).strip())
    without_suffix = _SUFFIX.sub("", text)
    if len(_TOKEN.findall(without_suffix)) >= MIN_TITLE_WORDS:
        text = without_suffix
    return tuple(_TOKEN.findall(text))


def near_keys(title: str, text: str) -> tuple[str | None, str | None]:
    """(headline key, lead key): what a syndicated copy shares with the original despite a new URL."""
    words = title_words(title)
    title_key = _digest(*words) if len(words) >= MIN_TITLE_WORDS else None
    lead = _TOKEN.findall(fold(text))[:LEAD_WORDS]
    lead_key = _digest(*lead) if len(lead) == LEAD_WORDS else None
    return title_key, lead_key


@dataclass(frozen=True, slots=True)
class Copy:
    """What the near-duplicate test reads of an item."""

    source: str
    cluster: str
    published: datetime | None
    words: tuple[str, ...]  # of the headline
    html: str  # its sanitised content, else its summary


def copy_of(item: Item) -> Copy:
    return Copy(item.source, item.cluster, item.published, title_words(item.title), item.content or item.summary)


@lru_cache(maxsize=2048)  # candidates recur from batch to batch; small ints keep the cache small
def _shingles(html: str) -> frozenset[int]:
    """Hashes of the text's 4-word shingles, from its first words: where an excerpt and its article overlap."""
    words = _TOKEN.findall(fold(visible_text(html)))[:SHINGLED_WORDS]
    return frozenset(hash(" ".join(words[i : i + SHINGLE])) for i in range(max(0, len(words) - SHINGLE + 1)))


def alike(a: Copy, b: Copy, window: timedelta = WINDOW) -> bool:
    """The cheap guards: close in time, headlines alike with the same numbers."""
    if a.source == b.source or a.published is None or b.published is None:
        return False
    if abs(a.published - b.published) > window:
        return False
    numbers_a = {w for w in a.words if w.isdigit()}
    numbers_b = {w for w in b.words if w.isdigit()}
    if not (numbers_a <= numbers_b or numbers_b <= numbers_a):  # "US$ 18 Juta" is not "US$ 75 Juta"
        return False
    return fuzz.token_set_ratio(" ".join(a.words), " ".join(b.words)) >= SIMILAR_TITLES


def text_overlap(a: Copy, b: Copy) -> float:
    """Share of the shorter text's shingles found in the other (an excerpt is inside its full text)."""
    sa, sb = _shingles(a.html), _shingles(b.html)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


def same_story(a: Copy, b: Copy, window: timedelta = WINDOW) -> bool:
    """Same story under two URLs: close in time, headlines alike with the same numbers, texts alike."""
    return alike(a, b, window) and text_overlap(a, b) >= SIMILAR_TEXT


def near_duplicate(item: Copy, candidates: Iterable[Copy], window: timedelta = WINDOW) -> Copy | None:
    """The candidate from another source that most likely tells the same story, if any passes the guards."""
    scored = [(text_overlap(item, c), c) for c in candidates if alike(item, c, window)]
    passing = [(score, c) for score, c in scored if score >= SIMILAR_TEXT]
    best = max(passing, key=lambda sc: (sc[0], -(sc[1].published or _EPOCH).timestamp()), default=None)
    return best[1] if best else None
