"""Published items to RSS 2.0 and Atom 1.0 (feedgen), JSON Feed 1.1, HTML pages and OPML.

Every renderer is a pure function of its inputs: no clock, no randomness, so an unchanged topic
renders to the same bytes and ``publish`` can skip writing it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from jinja2 import Environment, PackageLoader, select_autoescape
from lxml.etree import SubElement
from markupsafe import Markup, escape

from aggregator import PROJECT_URL, __version__
from aggregator.config import Settings, Topic
from aggregator.models import Item, PublishedItem
from aggregator.normalise import visible_text
from aggregator.opml import Outline
from aggregator.opml import write as write_opml

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GENERATOR = f"aggregator {__version__}"
FORMATS = {"rss.xml": "RSS", "atom.xml": "Atom", "feed.json": "JSON Feed"}

_env = Environment(
    loader=PackageLoader("aggregator", "templates"),
    autoescape=select_autoescape(["html", "xml"]),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.globals.update(generator=GENERATOR, project_url=PROJECT_URL)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """How a source is credited: its display name and its site."""

    name: str
    title: str
    site: str | None
    feed_url: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class TopicView:
    """Everything a topic's files are rendered from."""

    topic: Topic
    settings: Settings
    items: Sequence[PublishedItem]
    sources: dict[str, SourceInfo]

    def url(self, name: str = "") -> str:
        return self.settings.topic_url(self.topic.name, name)

    @property
    def updated(self) -> datetime:
        """The newest item's time: a feed's date must not move unless its items did."""
        dates = [p.item.updated or p.item.published or p.first_seen for p in self.items]
        return max(dates, default=EPOCH)

    @property
    def language(self) -> str | None:
        """The sources' language when they all agree on one (a topic mixing languages declares none)."""
        languages = {self.source(p.item).language for p in self.items}
        return languages.pop() if len(languages) == 1 else None

    def source(self, item: Item) -> SourceInfo:
        return self.sources.get(item.source) or SourceInfo(item.source, item.source, None, "")


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def item_id(published: PublishedItem) -> str:
    """Stable across runs and across which copy is credited: derived from the story's cluster."""
    return uuid.uuid5(uuid.NAMESPACE_URL, published.item.cluster).urn


def credit_html(view: TopicView, published: PublishedItem) -> str:
    """The footer naming the original source and the others that carried the story."""
    first = view.source(published.item)
    origin = escape(first.title)
    if published.item.link:
        origin = Markup('<a href="{}">{}</a>').format(published.item.link, first.title)
    parts = [Markup("Source: {}").format(origin)]
    others = []
    for other in published.also:
        title = view.source(other).title
        others.append(Markup('<a href="{}">{}</a>').format(other.link, title) if other.link else escape(title))
    if others:
        parts.append(Markup("also reported by {}").format(Markup(", ").join(others)))
    return str(Markup('<p class="aggregator-credit">{}.</p>').format(Markup("; ").join(parts)))


def _body(view: TopicView, published: PublishedItem) -> str:
    item = published.item
    return (item.content or item.summary) + "\n" + credit_html(view, published)


ATOM_NS = "http://www.w3.org/2005/Atom"


class WebSubHub(BaseExtension):  # type: ignore[misc]
    """``<atom:link rel="hub">`` in an RSS channel: feedgen writes only rel="self" links there."""

    def __init__(self) -> None:
        self.url: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"atom": ATOM_NS}

    def extend_rss(self, feed: Any) -> Any:
        if self.url:
            channel = feed[0]
            SubElement(channel, f"{{{ATOM_NS}}}link", href=self.url, rel="hub")
        return feed


class NoEntryExtension(BaseExtension):  # type: ignore[misc]
    """Entries need no WebSub part; feedgen still wants a class to instantiate for each."""


def _feedgen(view: TopicView) -> FeedGenerator:
    settings, topic = view.settings, view.topic
    fg = FeedGenerator()
    fg.load_extension("dc")
    if settings.websub_hub:
        fg.register_extension("websub", WebSubHub, NoEntryExtension, atom=False, rss=True)
        fg.websub.url = settings.websub_hub
        fg.link(href=settings.websub_hub, rel="hub")  # Atom writes every link itself
    fg.id(view.url())
    fg.title(topic.title)
    fg.subtitle(topic.description or f"{topic.title}: stories collected by {settings.title}")
    fg.author({"name": settings.title})
    fg.generator(GENERATOR, uri=PROJECT_URL)
    fg.updated(view.updated)
    fg.lastBuildDate(view.updated)
    if view.language:
        fg.language(view.language)
    for published in view.items:
        item = published.item
        source = view.source(item)
        fe = fg.add_entry(order="append")
        fe.id(item_id(published))
        fe.guid(item_id(published), permalink=False)
        fe.title(item.title or "(untitled)")
        if item.link:
            fe.link(href=item.link, rel="alternate")
        fe.published(item.published or published.first_seen)
        fe.updated(item.updated or item.published or published.first_seen)
        fe.content(_body(view, published), type="html")
        if item.summary and item.content:
            fe.summary(item.summary, type="html")
        if item.author:
            fe.author({"name": item.author})
            fe.dc.dc_creator(item.author)
        for term in item.categories:
            fe.category(term=term)
        fe.source(url=source.feed_url or source.site or view.url(), title=source.title)
    return fg


def rss(view: TopicView) -> bytes:
    fg = _feedgen(view)
    fg.link(href=view.url("rss.xml"), rel="self")  # feedgen keeps only rel="self" of the links for RSS
    fg.link(href=view.url("index.html"), rel="alternate")  # RSS <link> is the last alternate link
    rss_bytes: bytes = fg.rss_str(pretty=True)
    return rss_bytes


def atom(view: TopicView) -> bytes:
    fg = _feedgen(view)
    fg.link(href=view.url("atom.xml"), rel="self")
    fg.link(href=view.url("index.html"), rel="alternate")
    atom_bytes: bytes = fg.atom_str(pretty=True)
    return atom_bytes


def json_feed(view: TopicView) -> bytes:
    """JSON Feed 1.1, written by us: feedgen has no JSON Feed support."""
    items = []
    for published in view.items:
        item = published.item
        source = view.source(item)
        entry: dict[str, object] = {"id": item_id(published)}
        if item.link:
            entry["url"] = item.link
        entry["title"] = item.title or "(untitled)"
        entry["content_html"] = _body(view, published)
        summary = visible_text(item.summary or item.content)
        if summary:
            entry["summary"] = summary if len(summary) <= 300 else summary[:297].rstrip() + "..."
        entry["date_published"] = _rfc3339(item.published or published.first_seen)
        entry["date_modified"] = _rfc3339(item.updated or item.published or published.first_seen)
        if item.author:
            entry["authors"] = [{"name": item.author}]
        if item.categories:
            entry["tags"] = list(item.categories)
        entry["_source"] = {
            "name": source.title,
            "url": source.site or source.feed_url,
            "also": [{"name": view.source(o).title, "url": o.link} for o in published.also],
        }
        items.append(entry)
    document: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": view.topic.title,
        "home_page_url": view.url("index.html"),
        "feed_url": view.url("feed.json"),
        "description": view.topic.description or f"{view.topic.title}: stories collected by {view.settings.title}",
        "authors": [{"name": view.settings.title}],
        "items": items,
    }
    if view.language:
        document["language"] = view.language
    if view.settings.websub_hub:
        document["hubs"] = [{"type": "WebSub", "url": view.settings.websub_hub}]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


EMBED_ITEMS = 20  # stories in a topic's embeds: a widget, not an archive
EMBED_SUMMARY = 280  # characters of plain text per summary

#: One stylesheet for both embeds (the script's Shadow DOM and the iframe page). ``all: initial`` on the
#: box cuts what the host element would pass down by inheritance (color, font), which a shadow root lets through.
EMBED_CSS = """\
:host { display: block; }
body { margin: 0; background: transparent; }
section.aggregator-box { all: initial; display: block; box-sizing: border-box; padding: .75rem 1rem;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; background: #fff;
  border: 1px solid #d0d0d0; border-radius: 8px; text-align: start; }
h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
h3 { font-size: 1rem; font-weight: 600; margin: 0; overflow-wrap: anywhere; }
ul { list-style: none; margin: 0; padding: 0; }
li { display: block; padding: .55rem 0; border-top: 1px solid #e4e4e4; }
a { color: #0b57d0; text-decoration: none; }
a:hover, a:focus { text-decoration: underline; }
.meta, .credit { color: #555; font-size: .85rem; margin: .15rem 0 0; }
.summary { margin: .3rem 0 0; }
[hidden] { display: none; }
@media (prefers-color-scheme: dark) {
  section.aggregator-box { color: #ececec; background: #151515; border-color: #3a3a3a; }
  li { border-color: #2c2c2c; } a { color: #8ab4f8; } .meta, .credit { color: #b0b0b0; }
}
"""

#: The iframe page's only script: ``?count=N`` and ``?summary=false``, as the script embed's options.
EMBED_OPTIONS_JS = (
    "(function(){var q=new URLSearchParams(location.search);var n=parseInt(q.get('count')||'0',10);"
    "var items=document.querySelectorAll('section.aggregator-box li');"
    "for(var i=n>0?n:items.length;i<items.length;i++){items[i].hidden=true;}"
    "if(q.get('summary')==='false'){document.querySelectorAll('.summary').forEach(function(p){p.hidden=true;});}})();"
)
#: What the iframe page's Content-Security-Policy allows: that script and nothing else.
EMBED_OPTIONS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(EMBED_OPTIONS_JS.encode()).digest()).decode()


@dataclass(frozen=True, slots=True)
class Snippets:
    """The one-line snippets a site owner pastes to embed a topic."""

    name: str
    title: str
    script: str
    iframe: str
    max_items: int


def snippets(settings: Settings, topic: Topic) -> Snippets:
    script, page = settings.topic_url(topic.name, "embed.js"), settings.topic_url(topic.name, "embed.html")
    return Snippets(
        name=topic.name,
        title=topic.title,
        script=f'<script src="{script}" data-count="5" data-summary="true" async></script>',
        iframe=(
            f'<iframe src="{page}" title="{escape(topic.title)}" width="100%" height="480" '
            'loading="lazy" style="border:0"></iframe>'
        ),
        max_items=EMBED_ITEMS,
    )


def _date_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%d %b %Y")


def _embed_entries(view: TopicView) -> list[dict[str, Any]]:
    """What the embeds show of each story: plain text only (titles and summaries are never HTML there)."""
    entries: list[dict[str, Any]] = []
    for published in view.items[:EMBED_ITEMS]:
        item = published.item
        source = view.source(item)
        when = item.published or published.first_seen
        summary = visible_text(item.summary or item.content)
        if len(summary) > EMBED_SUMMARY:
            summary = summary[: EMBED_SUMMARY - 1].rstrip() + "…"
        entries.append({
            "title": item.title or "(untitled)",
            "url": item.link,
            "source": source.title,
            "source_url": source.site or item.link,
            "date": _rfc3339(when),
            "date_text": _date_text(when),
            "summary": summary,
            "also": [view.source(other).title for other in published.also],
        })  # fmt: skip
    return entries


def _script_json(value: object) -> str:
    """JSON that is also safe inside a script element (no ``</script>``, no HTML comment openers)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def embed_js(view: TopicView) -> bytes:
    """A self-contained script: the topic's latest stories and the code that draws them (static hosting works)."""
    data = {
        "title": view.topic.title,
        "page": view.url("index.html"),
        "feed": view.url("rss.xml"),
        "generator": f"via {view.settings.title}",
        "items": _embed_entries(view),
    }
    script = _env.get_template("embed.js").render(
        title=view.topic.title,
        script_url=view.url("embed.js"),
        max_items=EMBED_ITEMS,
        data=_script_json(data),
        css=_script_json(EMBED_CSS),
    )
    return script.encode("utf-8")


def embed_page(view: TopicView) -> bytes:
    """The no-JavaScript embed: a compact page for an iframe (a tiny hashed script adds the options)."""
    html = _env.get_template("embed.html").render(
        view=view,
        topic=view.topic,
        settings=view.settings,
        entries=_embed_entries(view),
        css=Markup(EMBED_CSS),
        script=Markup(EMBED_OPTIONS_JS),
        script_hash=EMBED_OPTIONS_HASH,
    )
    return html.encode("utf-8")


def topic_page(view: TopicView) -> bytes:
    entries = [
        {
            "published": p,
            "date": p.item.published or p.first_seen,
            "iso": _rfc3339(p.item.published or p.first_seen),
            "source": view.source(p.item),
            "summary": Markup(p.item.summary or p.item.content),  # sanitised by nh3 when parsed
            "also": [(view.source(o), o.link) for o in p.also],
        }
        for p in view.items
    ]
    html = _env.get_template("topic.html").render(
        view=view, topic=view.topic, settings=view.settings, entries=entries, formats=FORMATS,
        snippet=snippets(view.settings, view.topic),
    )  # fmt: skip
    return html.encode("utf-8")


def site_index(settings: Settings, topics: Sequence[Topic]) -> bytes:
    html = _env.get_template("index.html").render(
        settings=settings, topics=topics, formats=FORMATS,
        snippets=[snippets(settings, topic) for topic in topics],
    )  # fmt: skip
    return html.encode("utf-8")


def opml(settings: Settings, topics: Sequence[Topic]) -> bytes:
    outlines = [
        Outline(t.title, settings.topic_url(t.name, "rss.xml"), settings.topic_url(t.name, "index.html"))
        for t in topics
    ]
    return write_opml(settings.title, outlines)


#: One renderer per file of a topic folder (the names are ``publish.FILES``).
RENDERERS = {
    "rss.xml": rss,
    "atom.xml": atom,
    "feed.json": json_feed,
    "index.html": topic_page,
    "embed.js": embed_js,
    "embed.html": embed_page,
}
