"""Decide which topics changed, render them, and write the files atomically into the output folder."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aggregator import logs, render
from aggregator.config import Config
from aggregator.models import SourceState
from aggregator.normalise import redact_url
from aggregator.store import Store

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

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config

    def _fingerprint(self, name: str) -> str:
        topic = next(t for t in self.config.topics if t.name == name)
        s = self.config.settings
        text = "\x1f".join(
            [render.RENDER_VERSION, topic.model_dump_json(), s.base_url, s.title, str(s.max_items)]
            + [f"{src.name}={src.title}|{redact_url(src.url)}" for src in self.config.sources]
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _sources(self, states: dict[str, SourceState]) -> dict[str, render.SourceInfo]:
        info = {}
        for source in self.config.sources:
            state = states.get(source.name)
            title = source.title or (state.feed_title if state else None) or source.name
            info[source.name] = render.SourceInfo(
                name=source.name,
                title=title,
                site=state.feed_link if state else None,
                feed_url=redact_url(source.url),
                language=state.language if state else None,
            )
        return info

    async def publish(self, changed: Iterable[str] = ()) -> PublishReport:
        started = time.perf_counter()
        out = self.config.settings.output_dir
        stored = await self.store.topic_fingerprints()
        due = []
        for topic in self.config.topics:
            fingerprint = self._fingerprint(topic.name)
            missing = any(not (out / topic.name / name).exists() for name in render.RENDERERS)
            if topic.name in set(changed) or missing or stored.get(topic.name) != fingerprint:
                due.append((topic, fingerprint))
        written = 0
        if due:
            sources = self._sources(await self.store.states())
            for topic, _ in due:
                published = await self.store.topic_items(topic.name, self.config.settings.max_items)
                view = render.TopicView(topic, self.config.settings, published, sources)
                for name, renderer in render.RENDERERS.items():
                    written += write_atomic(out / topic.name / name, renderer(view))
            await self.store.set_topic_fingerprints({t.name: fp for t, fp in due})
        written += write_atomic(out / "index.html", render.site_index(self.config.settings, self.config.topics))
        written += write_atomic(out / "topics.opml", render.opml(self.config.settings, self.config.topics))
        report = PublishReport(tuple(t.name for t, _ in due), written, int((time.perf_counter() - started) * 1000))
        logs.event(log, "publish", topics=",".join(report.topics) or "-", files=written, ms=report.ms)
        return report
