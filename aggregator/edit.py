"""Edit feeds.yaml in place for commands that add to it, keeping its comments, order and layout.

PyYAML (what ``config`` loads with) drops comments, so edits go through ruamel.yaml's round-trip
mode; the result is validated like any feeds.yaml before it replaces the file.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aggregator import config as config_module
from aggregator.errors import ConfigError
from aggregator.normalise import fold
from aggregator.opml import Outline
from aggregator.publish import write_atomic

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class Added:
    added: list[str] = field(default_factory=list)  # names of the new sources
    present: list[str] = field(default_factory=list)  # URLs already in feeds.yaml
    invalid: list[str] = field(default_factory=list)  # why an outline was left out


def slug(title: str, url: str, taken: set[str]) -> str:
    """A source name from an outline's title (or its URL's host), unique among ``taken``."""
    base = _NOT_SLUG.sub("-", fold(title)).strip("-")[:50]
    base = base or _NOT_SLUG.sub("-", urlsplit(url).hostname or "").strip("-")[:50].strip("-") or "feed"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def add_sources(path: Path, outlines: list[Outline]) -> Added:
    """Append outlines as sources of the feeds.yaml at ``path``; raises ConfigError if the result is invalid."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    loaded = config_module.load(path)  # only a valid config is edited
    yaml = YAML()  # round-trip: comments, order and quoting kept
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    document: Any = yaml.load(path.read_text(encoding="utf-8"))
    if document is None:
        document = CommentedMap()
    sources = document.get("sources")
    if sources is None:
        sources = document["sources"] = CommentedSeq()
    names = {s.name for s in loaded.config.sources}
    urls = {s.url.rstrip("/") for s in loaded.config.sources}
    result = Added()
    for outline in outlines:
        url = outline.xml_url.strip()
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            result.invalid.append(f"{outline.title or url}: {url!r} is not an http(s) URL")
            continue
        if url.rstrip("/") in urls:
            result.present.append(url)
            continue
        name = slug(outline.title, url, names)
        entry = CommentedMap(name=name, url=url)
        if outline.title:
            entry["title"] = outline.title
        sources.append(entry)
        names.add(name)
        urls.add(url.rstrip("/"))
        result.added.append(name)
    if result.added:
        buffer = io.StringIO()
        yaml.dump(document, buffer)
        text = buffer.getvalue()
        _, problems = config_module.parse(text, str(path))
        if problems:
            raise ConfigError(problems)
        write_atomic(path, text.encode("utf-8"))
    return result
