"""Decide which topics changed, render them, and write the files atomically into the output folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from aggregator import logs
from aggregator.config import Config, Topic
from aggregator.models import SourceState
from aggregator.normalise import redact
from aggregator.store import Store

if TYPE_CHECKING:
    from aggregator import render

#: The fingerprint row of the site-wide files (topic names are slugs, so they cannot clash with it).
SITE = "_site"
#: Bumped when output changes shape, so every file is re-rendered once after an upgrade.
RENDER_VERSION = "2"
#: The feed files of a topic, as the WebSub hub is told about them.
FEEDS = ("rss.xml", "atom.xml", "feed.json")
#: Store key of the hub pings that failed, sent again with the next publish.
WEBSUB_PENDING = "websub_pending"
FILES = (*FEEDS, "index.html", "embed.js", "embed.html")

log = logging.getLogger(__name__)


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data`` by rename, so readers never see half a file; False if unchanged."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True


@dataclass(frozen=True, slots=True)
class PublishReport:
    topics: tuple[str, ...]  # topics rendered
    files_written: int
    ms: int


class Publisher:
    """Re-renders the topics whose items changed, or whose rule or layout did since the last publish."""

    def __init__(self, store: Store, config: Config, on_publish: Callable[[float], None] | None = None) -> None:
        self.store = store
        self.config = config
        self.on_publish = on_publish  # metrics, in ``run``

    def _fingerprint(self, name: str) -> str:
        """What a topic's files depend on besides its items; a change re-renders it."""
        s = self.config.settings
        parts = [RENDER_VERSION, s.base_url, s.title, str(s.max_items), s.websub_hub or ""]
        if name == SITE:
            parts += [t.model_dump_json() for t in self.config.topics]
        else:
            parts.append(next(t for t in self.config.topics if t.name == name).model_dump_json())
            parts += [f"{src.name}={src.title}|{redact(src.url)}" for src in self.config.sources]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def _sources(self, states: dict[str, SourceState]) -> dict[str, render.SourceInfo]:
        from aggregator.render import SourceInfo

        info = {}
        for source in self.config.sources:
            state = states.get(source.name)
            title = source.title or (state.feed_title if state else None) or source.name
            info[source.name] = SourceInfo(
                name=source.name,
                title=title,
                site=state.feed_link if state else None,
                feed_url=redact(source.url),
                language=state.language if state else None,
            )
        return info

    async def publish(self, changed: Iterable[str] = ()) -> PublishReport:
        """Render what is due; nothing else is even imported (a run where nothing changed stays cheap)."""
        started = time.perf_counter()
        out = self.config.settings.output_dir
        stored = await self.store.topic_fingerprints()
        changed = set(changed)
        due: dict[str, str] = {}
        for topic in self.config.topics:
            fingerprint = self._fingerprint(topic.name)
            missing = any(not (out / topic.name / name).exists() for name in FILES)
            if topic.name in changed or missing or stored.get(topic.name) != fingerprint:
                due[topic.name] = fingerprint
        site = self._fingerprint(SITE)
        site_missing = not (out / "index.html").exists() or not (out / "topics.opml").exists()
        written = 0
        if due or site_missing or stored.get(SITE) != site:
            from aggregator import render

            if due:
                sources = self._sources(await self.store.states())
                for topic in self.config.topics:
                    if topic.name in due:
                        written += await self._render_topic(render, topic, sources)
            settings, topics = self.config.settings, self.config.topics
            written += write_atomic(out / "index.html", render.site_index(settings, topics))
            written += write_atomic(out / "topics.opml", render.opml(settings, topics))
            await self.store.set_topic_fingerprints({**due, SITE: site})
        await self._notify_hub(due)
        await self.store.set_meta("last_publish", datetime.now(UTC).isoformat(timespec="seconds"))
        seconds = time.perf_counter() - started
        if self.on_publish is not None:
            self.on_publish(seconds)
        report = PublishReport(tuple(due), written, int(seconds * 1000))
        logs.event(log, "publish", topics=",".join(report.topics) or "-", files=written, ms=report.ms)
        return report

    async def _notify_hub(self, changed: Iterable[str]) -> None:
        """Ping the WebSub hub for the feeds that changed now and those whose ping failed before."""
        settings = self.config.settings
        if not settings.websub_hub:
            return
        pending = set(json.loads(await self.store.get_meta(WEBSUB_PENDING) or "[]"))
        pending |= {settings.topic_url(topic, name) for topic in changed for name in FEEDS}
        if not pending:
            return
        from aggregator import websub

        failed = await websub.ping(settings.websub_hub, sorted(pending), settings.user_agent)
        await self.store.set_meta(WEBSUB_PENDING, json.dumps(failed))

    async def _render_topic(self, render: ModuleType, topic: Topic, sources: dict[str, render.SourceInfo]) -> int:
        published = await self.store.topic_items(topic.name, self.config.settings.max_items)
        view = render.TopicView(topic, self.config.settings, published, sources)
        out = self.config.settings.output_dir / topic.name
        return sum(write_atomic(out / name, renderer(view)) for name, renderer in render.RENDERERS.items())
