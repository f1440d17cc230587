"""Topic rules compiled once per config and applied to items (pure: no I/O).

A keyword matches case-insensitively as a whole word: the characters either side of it are not
Unicode word characters, so "Trump" matches "TRUMP", "Trump's" and "Trump-nya" but not "Trumpet",
"Trumpf" or "realDonaldTrump". Every keyword of every topic is found in one pass over the text (one
alternation, longest first, tried at every position so overlapping phrases are all seen); a found
phrase also counts for the keywords inside it ("Donald Trump" is a "Trump"). The rules then only look
the found words up in a set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

#: (topic name, any, all, none): the plain-data form of a topic's rule, cheap to send to parse workers.
RuleSpec = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]

_SPACE = re.compile(r"\s+")


def _word(keyword: str) -> str:
    return _SPACE.sub(" ", keyword.strip()).casefold()


@dataclass(frozen=True, slots=True)
class Rule:
    topic: str
    any: frozenset[str]
    all: frozenset[str]
    none: frozenset[str]

    def matches(self, found: frozenset[str]) -> bool:
        if self.any and self.any.isdisjoint(found):
            return False
        return self.all <= found and self.none.isdisjoint(found)


@dataclass(frozen=True, slots=True)
class Rules:
    rules: tuple[Rule, ...]
    scanner: re.Pattern[str] | None
    implied: dict[str, frozenset[str]]  # keyword -> itself and the keywords inside it

    def found(self, text: str) -> frozenset[str]:
        """The keywords present in ``text``, normalised (case folded, spaces collapsed)."""
        if self.scanner is None:
            return frozenset()
        found: set[str] = set()
        for match in set(self.scanner.findall(text)):
            found |= self.implied.get(_word(match), frozenset())
        return frozenset(found)


def _alternation(words: Iterable[str]) -> str:
    ordered = sorted(set(words), key=len, reverse=True)
    return "|".join(r"\s+".join(re.escape(part) for part in word.split(" ")) for word in ordered)


def _scanner(words: set[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile(rf"(?=(?<!\w)({_alternation(words)})(?!\w))", re.IGNORECASE)


def _implied(words: set[str]) -> dict[str, frozenset[str]]:
    patterns = {w: re.compile(rf"(?<!\w)(?:{_alternation([w])})(?!\w)", re.IGNORECASE) for w in words}
    return {w: frozenset(other for other, p in patterns.items() if p.search(w)) for w in words}


@lru_cache(maxsize=8)
def compile_rules(specs: tuple[RuleSpec, ...]) -> Rules:
    """Compile once per distinct config (cached, so each parse worker compiles a config once)."""
    rules = tuple(
        Rule(topic, frozenset(map(_word, any_)), frozenset(map(_word, all_)), frozenset(map(_word, none)))
        for topic, any_, all_, none in specs
    )
    words = {w for r in rules for w in r.any | r.all | r.none}
    return Rules(rules, _scanner(words), _implied(words))


def match_text(title: str, texts: Sequence[str], categories: Sequence[str]) -> str:
    """The text a rule reads: title, visible text of summary and content, and categories."""
    return "\n".join([title, *texts, *categories])


def topics_for(text: str, rules: Rules) -> tuple[str, ...]:
    found = rules.found(text)
    return tuple(rule.topic for rule in rules.rules if rule.matches(found))
