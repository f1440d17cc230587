"""A strict checker for the feeds we publish: RSS 2.0, Atom 1.0 (RFC 4287) and JSON Feed 1.1.

The W3C Feed Validator is neither on PyPI nor in Debian, so this module checks what the three specs
require of a document, more strictly than feed readers do: required elements and their counts,
RFC 822 and RFC 3339 dates, absolute http(s) URLs, unique ids, language tags; JSON Feed against a
JSON Schema written from its spec. Each check returns a list of problems ("" means none).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} (GMT|[+-]\d{4})$"
)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
RSS_CHANNEL = {
    "title", "link", "description", "language", "copyright", "managingEditor", "webMaster", "pubDate",
    "lastBuildDate", "category", "generator", "docs", "cloud", "ttl", "image", "rating", "textInput",
    "skipHours", "skipDays", "item",
}  # fmt: skip
RSS_ITEM = {"title", "link", "description", "author", "category", "comments", "enclosure", "guid", "pubDate", "source"}


def _absolute(url: str | None) -> bool:
    parts = urlsplit(url or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _rfc822(value: str | None) -> bool:
    if not value or not RFC822.match(value):
        return False
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return True


def _rfc3339(value: str | None) -> bool:
    if not value or not RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def check_rss(data: bytes) -> list[str]:
    """RSS 2.0 (rssboard.org specification)."""
    problems: list[str] = []
    root = etree.fromstring(data)
    if root.tag != "rss" or root.get("version") != "2.0":
        return [f"root is <{root.tag} version={root.get('version')!r}>, not <rss version='2.0'>"]
    channels = root.findall("channel")
    if len(channels) != 1:
        return [f"{len(channels)} <channel> elements, not 1"]
    channel = channels[0]
    for child in channel:
        if isinstance(child.tag, str) and not child.tag.startswith("{") and child.tag not in RSS_CHANNEL:
            problems.append(f"channel: <{child.tag}> is not an RSS 2.0 element")
    for name in ("title", "link", "description"):
        if len(channel.findall(name)) != 1 or not (channel.findtext(name) or "").strip():
            problems.append(f"channel: needs exactly one non-empty <{name}>")
    if not _absolute(channel.findtext("link")):
        problems.append(f"channel: <link> {channel.findtext('link')!r} is not an absolute URL")
    for name in ("pubDate", "lastBuildDate"):
        if channel.find(name) is not None and not _rfc822(channel.findtext(name)):
            problems.append(f"channel: <{name}> {channel.findtext(name)!r} is not an RFC 822 date")
    language = channel.findtext("language")
    if language is not None and not LANGUAGE.match(language):
        problems.append(f"channel: <language> {language!r} is not a language tag")
    for link in channel.findall(f"{ATOM}link"):
        if not _absolute(link.get("href")) or not link.get("rel"):
            problems.append(f"channel: <atom:link> needs rel and an absolute href, got {dict(link.attrib)}")
    if not any(link.get("rel") == "self" for link in channel.findall(f"{ATOM}link")):
        problems.append("channel: no <atom:link rel='self'> (recommended by the RSS Advisory Board)")
    guids = []
    for number, item in enumerate(channel.findall("item"), 1):
        where = f"item {number}"
        for child in item:
            if isinstance(child.tag, str) and not child.tag.startswith("{") and child.tag not in RSS_ITEM:
                problems.append(f"{where}: <{child.tag}> is not an RSS 2.0 item element")
        if not (item.findtext("title") or item.findtext("description")):
            problems.append(f"{where}: needs a <title> or a <description>")
        for name in ("title", "link", "description", "guid", "pubDate", "source", "comments"):
            if len(item.findall(name)) > 1:
                problems.append(f"{where}: more than one <{name}>")
        if item.find("link") is not None and not _absolute(item.findtext("link")):
            problems.append(f"{where}: <link> {item.findtext('link')!r} is not an absolute URL")
        if item.find("pubDate") is not None and not _rfc822(item.findtext("pubDate")):
            problems.append(f"{where}: <pubDate> {item.findtext('pubDate')!r} is not an RFC 822 date")
        guid = item.find("guid")
        if guid is None or not (guid.text or "").strip():
            problems.append(f"{where}: no <guid> (we promise stable ids)")
        else:
            guids.append(guid.text)
            if guid.get("isPermaLink", "true") == "true" and not _absolute(guid.text):
                problems.append(f"{where}: a permalink <guid> must be an absolute URL")
        source = item.find("source")
        if source is not None and (not _absolute(source.get("url")) or not (source.text or "").strip()):
            problems.append(f"{where}: <source> needs a url attribute and the source's name")
        author = item.findtext("author")
        if author is not None and "@" not in author:
            problems.append(f"{where}: <author> must be an email address (use dc:creator for names)")
        for category in item.findall("category"):
            if not (category.text or "").strip():
                problems.append(f"{where}: empty <category>")
    problems += [f"guid {g!r} is used by {n} items" for g, n in Counter(guids).items() if n > 1]
    return problems


def _atom_common(element: Any, where: str, problems: list[str], feed: bool) -> None:
    for name in ("id", "title", "updated"):
        if len(element.findall(f"{ATOM}{name}")) != 1:
            problems.append(f"{where}: needs exactly one <{name}>")
    for name in ("rights", "subtitle", "summary", "content", "published", "icon", "logo", "generator"):
        if len(element.findall(f"{ATOM}{name}")) > 1:
            problems.append(f"{where}: more than one <{name}>")
    identifier = element.findtext(f"{ATOM}id") or ""
    if not (_absolute(identifier) or identifier.startswith(("urn:uuid:", "tag:"))):
        problems.append(f"{where}: <id> {identifier!r} is not an absolute IRI")
    for name in ("updated", "published"):
        value = element.findtext(f"{ATOM}{name}")
        if value is not None and not _rfc3339(value):
            problems.append(f"{where}: <{name}> {value!r} is not an RFC 3339 date")
    alternates: Counter[tuple[str | None, str | None]] = Counter()
    for link in element.findall(f"{ATOM}link"):
        if not _absolute(link.get("href")):
            problems.append(f"{where}: <link> href {link.get('href')!r} is not absolute")
        if link.get("rel", "alternate") == "alternate":
            alternates[(link.get("type"), link.get("hreflang"))] += 1
    if any(n > 1 for n in alternates.values()):
        problems.append(f"{where}: more than one alternate link with the same type and hreflang")
    for text in ("title", "subtitle", "summary", "rights"):
        for node in element.findall(f"{ATOM}{text}"):
            if node.get("type", "text") not in ("text", "html", "xhtml"):
                problems.append(f"{where}: <{text}> type {node.get('type')!r} is not text, html or xhtml")
    for person in element.findall(f"{ATOM}author") + element.findall(f"{ATOM}contributor"):
        if not (person.findtext(f"{ATOM}name") or "").strip():
            problems.append(f"{where}: a person construct needs a <name>")
    for category in element.findall(f"{ATOM}category"):
        if not category.get("term"):
            problems.append(f"{where}: <category> needs a term")
    if feed and element.find(f"{ATOM}generator") is not None:
        uri = element.find(f"{ATOM}generator").get("uri")
        if uri is not None and not _absolute(uri):
            problems.append(f"{where}: <generator> uri is not absolute")


def check_atom(data: bytes) -> list[str]:
    """Atom 1.0, RFC 4287 sections 4.1.1 (feed) and 4.1.2 (entry)."""
    problems: list[str] = []
    root = etree.fromstring(data)
    if root.tag != f"{ATOM}feed":
        return [f"root is <{root.tag}>, not an Atom <feed>"]
    _atom_common(root, "feed", problems, feed=True)
    if not any(link.get("rel") == "self" for link in root.findall(f"{ATOM}link")):
        problems.append("feed: no <link rel='self'> (RFC 4287 says SHOULD)")
    language = root.get(XML_LANG)
    if language is not None and not LANGUAGE.match(language):
        problems.append(f"feed: xml:lang {language!r} is not a language tag")
    feed_author = root.find(f"{ATOM}author") is not None
    ids = []
    for number, entry in enumerate(root.findall(f"{ATOM}entry"), 1):
        where = f"entry {number}"
        _atom_common(entry, where, problems, feed=False)
        ids.append(entry.findtext(f"{ATOM}id"))
        if not feed_author and entry.find(f"{ATOM}author") is None:
            problems.append(f"{where}: no <author> here or on the feed")
        content = entry.find(f"{ATOM}content")
        alternate = any(link.get("rel", "alternate") == "alternate" for link in entry.findall(f"{ATOM}link"))
        if content is None and not alternate:
            problems.append(f"{where}: needs <content> or an alternate <link>")
        if content is not None and content.get("src") is not None and entry.find(f"{ATOM}summary") is None:
            problems.append(f"{where}: out-of-line content needs a <summary>")
        source = entry.find(f"{ATOM}source")
        if source is not None:
            for link in source.findall(f"{ATOM}link"):
                if not _absolute(link.get("href")):
                    problems.append(f"{where}: <source> link is not absolute")
    problems += [f"entry id {i!r} is used {n} times" for i, n in Counter(ids).items() if n > 1]
    return problems


#: JSON Feed 1.1 (jsonfeed.org/version/1.1) as a JSON Schema; dates and URLs are checked beside it.
_AUTHOR = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "url": {"type": "string"}, "avatar": {"type": "string"}},
    "anyOf": [{"required": ["name"]}, {"required": ["url"]}, {"required": ["avatar"]}],
}
JSON_FEED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "title", "items"],
    "patternProperties": {"^_": {}},
    "additionalProperties": False,
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string", "minLength": 1},
        "home_page_url": {"type": "string"},
        "feed_url": {"type": "string"},
        "description": {"type": "string"},
        "user_comment": {"type": "string"},
        "next_url": {"type": "string"},
        "icon": {"type": "string"},
        "favicon": {"type": "string"},
        "authors": {"type": "array", "items": _AUTHOR},
        "language": {"type": "string", "pattern": LANGUAGE.pattern},
        "expired": {"type": "boolean"},
        "hubs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "url"],
                "properties": {"type": {"type": "string"}, "url": {"type": "string"}},
            },
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
                "patternProperties": {"^_": {}},
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "url": {"type": "string"},
                    "external_url": {"type": "string"},
                    "title": {"type": "string"},
                    "content_html": {"type": "string"},
                    "content_text": {"type": "string"},
                    "summary": {"type": "string"},
                    "image": {"type": "string"},
                    "banner_image": {"type": "string"},
                    "date_published": {"type": "string"},
                    "date_modified": {"type": "string"},
                    "authors": {"type": "array", "items": _AUTHOR},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "language": {"type": "string", "pattern": LANGUAGE.pattern},
                    "attachments": {"type": "array"},
                },
            },
        },
    },
}


def check_json_feed(data: bytes) -> list[str]:
    """JSON Feed 1.1."""
    document = json.loads(data)
    validator = jsonschema.Draft202012Validator(JSON_FEED_SCHEMA)
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or 'feed'}: {e.message}" for e in validator.iter_errors(document)
    ]
    if problems:
        return problems
    for key in ("home_page_url", "feed_url"):
        if key in document and not _absolute(document[key]):
            problems.append(f"{key} {document[key]!r} is not an absolute URL")
    for hub in document.get("hubs", []):
        if not _absolute(hub["url"]):
            problems.append(f"hub url {hub['url']!r} is not absolute")
    for number, item in enumerate(document["items"], 1):
        for key in ("url", "external_url"):
            if key in item and not _absolute(item[key]):
                problems.append(f"item {number}: {key} {item[key]!r} is not an absolute URL")
        for key in ("date_published", "date_modified"):
            if key in item and not _rfc3339(item[key]):
                problems.append(f"item {number}: {key} {item[key]!r} is not an RFC 3339 date")
    ids = Counter(item["id"] for item in document["items"])
    problems += [f"item id {i!r} is used {n} times" for i, n in ids.items() if n > 1]
    return problems


CHECKS = {"rss.xml": check_rss, "atom.xml": check_atom, "feed.json": check_json_feed}
