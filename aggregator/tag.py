"""Topic rules compiled once per config and applied to items (pure: no I/O).

A keyword matches case-insensitively as a whole word: the characters either side of it are not
Unicode word characters, so "Trump" matches "TRUMP", "Trump's" and "Trump-nya" but not "Trumpet",
"Trumpf" or "realDonaldTrump".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

#: (topic name, any, all, none): the plain-data form of a topic's rule, cheap to send to parse workers.
RuleSpec = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _pattern(keywords: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({k.casefold() for k in keywords}, key=len, reverse=True)
    if not words:
        return None
    body = "|".join(r"\s+".join(re.escape(part) for part in word.split()) for word in words)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rule:
    topic: str
    any: re.Pattern[str] | None
    all: tuple[re.Pattern[str], ...]
    none: re.Pattern[str] | None

    def matches(self, text: str) -> bool:
        if self.any is not None and not self.any.search(text):
            return False
        if not all(p.search(text) for p in self.all):
            return False
        return self.none is None or not self.none.search(text)


@lru_cache(maxsize=8)
def compile_rules(specs: tuple[RuleSpec, ...]) -> tuple[Rule, ...]:
    """Compile once per distinct config (cached, so each parse worker compiles a config once)."""
    rules = []
    for topic, any_, all_, none in specs:
        all_patterns = tuple(p for p in (_pattern([k]) for k in all_) if p is not None)
        rules.append(Rule(topic, _pattern(any_), all_patterns, _pattern(none)))
    return tuple(rules)


def match_text(title: str, texts: Sequence[str], categories: Sequence[str]) -> str:
    """The text a rule reads: title, visible text of summary and content, and categories."""
    return "\n".join([title, *texts, *categories])


def topics_for(text: str, rules: Sequence[Rule]) -> tuple[str, ...]:
    return tuple(rule.topic for rule in rules if rule.matches(text))
