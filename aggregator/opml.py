"""OPML in and out: the topic feeds for readers, the sources for other aggregators, sources from them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.etree import ElementTree as ET

_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Outline:
    title: str
    xml_url: str
    html_url: str | None = None


def write(title: str, outlines: Iterable[Outline]) -> bytes:
    """An OPML 2.0 subscription list (deterministic bytes)."""
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    for outline in outlines:
        attributes = {"type": "rss", "text": outline.title, "title": outline.title, "xmlUrl": outline.xml_url}
        if outline.html_url:
            attributes["htmlUrl"] = outline.html_url
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n").encode()


class OpmlError(ValueError):
    """The file is not an OPML subscription list we can read."""


def read(data: bytes) -> list[Outline]:
    """Every outline with an ``xmlUrl``, folders flattened, in document order."""
    if _ENTITY_DECLARATION.search(data[:65536]):
        raise OpmlError("the file declares XML entities, which OPML never needs: refused as unsafe")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OpmlError(f"not well-formed XML: {exc}") from exc
    if root.tag != "opml":
        raise OpmlError(f"the root element is <{root.tag}>, not <opml>")
    return list(_outlines(root))


def _outlines(root: ET.Element) -> Iterator[Outline]:
    for node in root.iter("outline"):
        url = (node.get("xmlUrl") or node.get("xmlurl") or "").strip()
        if url:
            title = (node.get("title") or node.get("text") or "").strip()
            yield Outline(title, url, (node.get("htmlUrl") or "").strip() or None)
