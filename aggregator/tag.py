"""Topic rules compiled once per config and applied to items (pure: no I/O).

A keyword matches as a whole word, folding case and diacritics: "Trump" matches "TRUMP", "Trump's"
and "Trump-nya" but not "Trumpet", "Trumpf" or "realDonaldTrump"; "aplicación" matches "APLICACION".
In scripts written without spaces (Chinese, Japanese, Thai...) a keyword's edge in such a script
needs no boundary. Every keyword of every topic is found in one pass over each field (one
alternation, longest first, tried at every position so overlapping phrases are all seen); a found
phrase also counts for the keywords inside it ("Donald Trump" is a "Trump"). A keyword written
``re:PATTERN`` is a regular expression, run by RE2 (linear time: no catastrophic backtracking),
case-insensitively on the field's text as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aggregator.normalise import fold

REGEX_PREFIX = "re:"
FIELDS = ("title", "summary", "content", "categories", "author", "link")
DEFAULT_FIELDS = ("title", "summary", "content", "categories")

_SPACE = re.compile(r"\s+")
#: Scripts written without spaces between words: there a keyword's edge needs no boundary.
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A topic's rule as plain data: cheap to send to parse workers, hashable for the compile cache."""

    topic: str
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    fields: tuple[str, ...] = DEFAULT_FIELDS
    sources: tuple[str, ...] = ()  # only items of these sources (empty: all)
    tags: tuple[str, ...] = ()  # only items of sources with one of these tags (empty: all)
    include: tuple[str, ...] = ()  # also every item of these topics


def _word(keyword: str) -> str:
    return fold(_SPACE.sub(" ", keyword.strip()))


def _unspaced(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_UNSPACED)


def regex_error(pattern: str) -> str | None:
    """Why RE2 cannot compile a pattern, or None."""
    try:
        _regex(pattern)
    except Exception as exc:  # re2.error carries RE2's own message as bytes
        reason = exc.args[0] if exc.args else exc
        return reason.decode() if isinstance(reason, bytes) else str(reason)
    return None


@lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    import re2  # google-re2: only configs with regular expressions pay for it

    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return re2.compile(pattern, options)


@dataclass(frozen=True, slots=True)
class Terms:
    """One of a rule's lists (any, all or none): its keywords and its regular expressions."""

    words: frozenset[str] = frozenset()
    patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, items: Iterable[str]) -> Terms:
        items = list(items)
        patterns = tuple(i[len(REGEX_PREFIX) :] for i in items if i.startswith(REGEX_PREFIX))
        return cls(frozenset(_word(i) for i in items if not i.startswith(REGEX_PREFIX)), patterns)

    def __bool__(self) -> bool:
        return bool(self.words or self.patterns)


@dataclass(frozen=True, slots=True)
class Rule:
    spec: RuleSpec
    any: Terms
    all: Terms
    none: Terms

    def applies_to(self, source: str, source_tags: Iterable[str]) -> bool:
        if self.spec.sources and source not in self.spec.sources:
            return False
        return not self.spec.tags or not set(self.spec.tags).isdisjoint(source_tags)

    def matches(self, found: frozenset[str], search: Any) -> bool:
        """``found``: keywords present in the rule's fields; ``search(pattern)``: does it match there."""
        if self.any and self.any.words.isdisjoint(found) and not any(map(search, self.any.patterns)):
            return False
        if not self.all.words <= found or not all(map(search, self.all.patterns)):
            return False
        return self.none.words.isdisjoint(found) and not any(map(search, self.none.patterns))


@dataclass(frozen=True, slots=True)
class Rules:
    rules: tuple[Rule, ...]
    scanner: re.Pattern[str] | None
    ascii_scanner: re.Pattern[str] | None  # the same with plain \w boundaries: exact on ASCII text, faster
    implied: dict[str, frozenset[str]]  # keyword -> itself and the keywords inside it
    fields: tuple[str, ...] = field(default=DEFAULT_FIELDS)  # every field some rule reads

    def found(self, folded: str) -> frozenset[str]:
        """The keywords present in a folded text."""
        scanner = self.ascii_scanner if folded.isascii() else self.scanner
        if scanner is None or not folded:
            return frozenset()
        hits: set[str] = set()
        for groups in set(scanner.findall(folded)):
            for match in (groups,) if isinstance(groups, str) else groups:  # one group: findall gives strings
                if match:
                    hits |= self.implied.get(_SPACE.sub(" ", match), frozenset())
        return frozenset(hits)


def _alternation(words: Iterable[str]) -> str:
    ordered = sorted(set(words), key=len, reverse=True)
    return "|".join(r"\s+".join(re.escape(part) for part in word.split(" ")) for word in ordered)


@lru_cache(maxsize=1)
def _word_char() -> str:
    """A character class of word characters: ``\\w`` and the combining marks, which ``\\w`` leaves
    out although Devanagari, Tamil and other scripts write vowels with them inside words."""
    ranges: list[list[int]] = []
    for code in range(0x300, 0x30000):
        if unicodedata.category(chr(code)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    marks = "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)
    return f"[\\w{marks}]"


def _end(word: str, char: str) -> str:
    return "" if _unspaced(word[-1]) else f"(?!{char})"


def _bounded(word: str) -> str:
    """A keyword with a word boundary on each edge that is in a spaced script."""
    before = "" if _unspaced(word[0]) else f"(?<!{_word_char()})"
    return f"{before}(?:{_alternation([word])}){_end(word, _word_char())}"


def _scanner(words: set[str], char: str) -> re.Pattern[str] | None:
    """One pass finds them all: at each position the longest keyword that fits. Keywords starting in
    a spaced script share one start boundary; each keeps its own end (a phrase may end in Chinese)."""
    if not words:
        return None

    def branches(group: Iterable[str]) -> str:
        return "|".join(f"((?:{_alternation([w])}){_end(w, char)})" for w in sorted(group, key=len, reverse=True))

    spaced = {w for w in words if not _unspaced(w[0])}
    parts = [f"(?<!{char})(?:{branches(spaced)})"] if spaced else []
    parts += [branches(words - spaced)] if words - spaced else []
    return re.compile(f"(?=(?:{'|'.join(parts)}))")


def _implied(words: set[str]) -> dict[str, frozenset[str]]:
    patterns = {w: re.compile(_bounded(w)) for w in words}
    return {w: frozenset(other for other, p in patterns.items() if p.search(w)) for w in words}


@lru_cache(maxsize=8)
def compile_rules(specs: tuple[RuleSpec, ...]) -> Rules:
    """Compile once per distinct config (cached, so each parse worker compiles a config once)."""
    rules = tuple(Rule(s, Terms.of(s.any), Terms.of(s.all), Terms.of(s.none)) for s in specs)
    words = {w for r in rules for terms in (r.any, r.all, r.none) for w in terms.words}
    fields = tuple(f for f in FIELDS if any(f in r.spec.fields for r in rules))
    return Rules(rules, _scanner(words, _word_char()), _scanner(words, r"\w"), _implied(words), fields)


def topics_for(fields: Mapping[str, str], source: str, source_tags: Iterable[str], rules: Rules) -> tuple[str, ...]:
    """The topics an item belongs to. ``fields``: its title, summary and content as visible text,
    categories one per line, author and link."""
    found = {name: rules.found(fold(fields.get(name, ""))) for name in rules.fields}
    matched: list[str] = []
    for rule in rules.rules:
        if not rule.applies_to(source, source_tags) or not (rule.any or rule.all):
            continue
        present = frozenset().union(*(found[name] for name in rule.spec.fields))

        def search(pattern: str, names: tuple[str, ...] = rule.spec.fields) -> bool:
            regex = _regex(pattern)
            return any(regex.search(fields.get(name, "")) for name in names)

        if rule.matches(present, search):
            matched.append(rule.spec.topic)
    combined = [r for r in rules.rules if r.spec.include and r.applies_to(source, source_tags)]
    grew = bool(combined)
    while grew:  # topics made of other topics (which may be made of others), once those are known
        grew = False
        for rule in combined:
            if rule.spec.topic not in matched and not set(rule.spec.include).isdisjoint(matched):
                matched.append(rule.spec.topic)
                grew = True
    order = {rule.spec.topic: i for i, rule in enumerate(rules.rules)}
    return tuple(sorted(matched, key=order.__getitem__))


def item_fields(
    title: str, summary: str, content: str, categories: Iterable[str], author: str | None, link: str | None
) -> dict[str, str]:
    """The fields rules read; summary and content as visible text (never tags or attribute values)."""
    return {
        "title": title,
        "summary": summary,
        "content": content,
        "categories": "\n".join(categories),
        "author": author or "",
        "link": link or "",
    }
