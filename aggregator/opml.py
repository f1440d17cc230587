"""OPML in and out: the topic feeds for readers, the sources for other aggregators, sources from them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.etree import ElementTree as ET
from xml.parsers import expat


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
    """Every outline with an ``xmlUrl``, folders flattened, in document order.

    Read with expat directly, which reports every entity declaration whatever the encoding or where
    it sits: a file that declares any is refused (OPML never needs one; a bomb always does).
    """
    outlines: list[Outline] = []
    elements: list[str] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        elements.append(name)
        url = (attributes.get("xmlUrl") or attributes.get("xmlurl") or "").strip()
        if name == "outline" and url:
            title = (attributes.get("title") or attributes.get("text") or "").strip()
            outlines.append(Outline(title, url, (attributes.get("htmlUrl") or "").strip() or None))

    def refuse(*_args: object) -> None:
        raise OpmlError("the file declares XML entities, which OPML never needs: refused as unsafe")

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except OpmlError:
        raise
    except expat.ExpatError as exc:
        raise OpmlError(f"not well-formed XML: {exc}") from exc
    except (LookupError, ValueError) as exc:  # an unknown or impossible declared encoding
        raise OpmlError(f"unreadable: {exc}") from exc
    if not elements or elements[0] != "opml":
        raise OpmlError(f"the root element is <{elements[0] if elements else ''}>, not <opml>")
    return outlines
