"""The web app over the published output: feeds for readers, embeds for other sites, health for operators.

Files are served from ``output/`` with the right content types, validators (ETag, Last-Modified) and
304s, gzip made once per file version, a max-age derived from the polling interval, and CORS on
feeds and embeds. No request can read outside the output folder: ``..``, encoded slashes, symlinks
and dotfiles (publishing's temp files) all answer 404.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from aiohttp import web

from aggregator import logs
from aggregator.config import Config, LoadedConfig
from aggregator.metrics import CONTENT_TYPE as METRICS_TYPE
from aggregator.metrics import Metrics
from aggregator.store import Store

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".xml": "application/xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
FEED_TYPES = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
}
#: Files other sites load from their pages: feeds (by script) and the embeds.
CROSS_ORIGIN = {*FEED_TYPES, "embed.js", "embed.html", "topics.opml"}
MIN_AGE, MAX_AGE = 60, 3600


def max_age(config: Config) -> int:
    """Seconds a reader may reuse a file: output cannot change faster than the fastest source is polled."""
    intervals = [config.interval(s) for s in config.sources if s.enabled] or [config.settings.default_interval]
    return int(min(MAX_AGE, max(MIN_AGE, min(intervals))))


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    gzipped: bytes | None
    etag: str  # quoted, of the identity body; the gzip variant adds "-gz" inside the quotes
    last_modified: datetime
    headers: dict[str, str]  # what every response for this file carries, ETag and encoding aside

    @property
    def etags(self) -> set[str]:
        return {self.etag, self.etag[:-1] + '-gz"'}


class Site:
    """What the app serves; ``config`` is a callable so ``run`` can hand over reloaded configs."""

    def __init__(self, config: Callable[[], Config], store: Store, metrics: Metrics, config_path: str = "") -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.config_path = config_path
        self._files: dict[Path, tuple[tuple[int, int, int], _File]] = {}
        self._max_age: tuple[Config, int] | None = None

    def max_age(self) -> int:
        """``max_age`` of the current config, computed once per config (it walks every source)."""
        config = self.config()
        if self._max_age is None or self._max_age[0] is not config:
            self._max_age = (config, max_age(config))
        return self._max_age[1]

    @property
    def root(self) -> Path:
        return self.config().settings.output_dir.resolve()

    def resolve(self, tail: str) -> Path | None:
        """The file under the output folder a request names, or None."""
        root = self.root
        if "\\" in tail or "\x00" in tail or any(part.startswith(".") for part in tail.split("/") if part):
            return None
        try:
            candidate = (root / tail.lstrip("/")).resolve()
            if candidate.is_dir():
                candidate = (candidate / "index.html").resolve()  # a symlinked index.html is checked too
            inside = candidate == root or root in candidate.parents
            return candidate if inside and candidate.is_file() else None
        except OSError:  # a name too long for the file system, a loop of links...
            return None

    def file(self, path: Path) -> _File:
        """The file's bytes and validators, read and compressed once per version (publish replaces files)."""
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size, self.max_age())  # a reload may change the max-age
        cached = self._files.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        body = path.read_bytes()
        content_type = FEED_TYPES.get(path.name) or CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        packed = gzip.compress(body, compresslevel=6, mtime=0) if len(body) > 512 else None
        modified = datetime.fromtimestamp(int(stat.st_mtime), UTC)
        headers = {
            "Last-Modified": format_datetime(modified, usegmt=True),
            "Content-Type": content_type,
            "Cache-Control": f"public, max-age={version[2]}",
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        if path.name in CROSS_ORIGIN:
            headers["Access-Control-Allow-Origin"] = "*"
        entry = _File(
            body=body,
            gzipped=packed if packed is not None and len(packed) < len(body) else None,
            etag='"' + hashlib.sha256(body).hexdigest()[:24] + '"',
            last_modified=modified,
            headers=headers,
        )
        if len(self._files) > 4096:  # topics come and go; never let the cache grow without bound
            self._files.clear()
        self._files[path] = (version, entry)
        return entry


SITE_KEY = web.AppKey("site", Site)


def _accepts_gzip(header: str) -> bool:
    """Accept-Encoding admits gzip (``gzip;q=0`` refuses it)."""
    for part in header.lower().split(","):
        token, *params = (p.strip() for p in part.split(";"))
        if token in ("gzip", "x-gzip", "*"):
            weight = next((p[2:] for p in params if p.startswith("q=")), "1")
            try:
                return float(weight) > 0
            except ValueError:
                return False
    return False


def _not_modified(request: web.Request, etags: set[str], last_modified: datetime) -> bool:
    """RFC 9110: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        offered = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in offered or bool(offered & etags)
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


async def output_file(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE_KEY]
    path = site.resolve(request.match_info["tail"])
    if path is None:
        raise web.HTTPNotFound(text="not found\n")
    entry = site.file(path)
    use_gzip = entry.gzipped is not None and _accepts_gzip(request.headers.get("Accept-Encoding", ""))
    headers = {**entry.headers, "ETag": entry.etag[:-1] + '-gz"' if use_gzip else entry.etag}
    if _not_modified(request, entry.etags, entry.last_modified):
        return web.Response(status=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        assert entry.gzipped is not None
        return web.Response(body=entry.gzipped, headers=headers)
    return web.Response(body=entry.body, headers=headers)


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: config loaded, store reachable, output published (and how long ago)."""
    site = request.app[SITE_KEY]
    report: dict[str, object] = {"config": site.config_path or "loaded"}
    ready = True
    try:
        last = await site.store.get_meta("last_publish")
        report["store"] = "ok"
    except Exception as exc:  # any failure to reach the database means not ready, with the reason
        last, ready = None, False
        report["store"] = f"unreachable: {type(exc).__name__}"
    if last is None or not (site.root / "index.html").is_file():
        ready = False
        report["published"] = "not yet"
    else:
        age = (datetime.now(UTC) - datetime.fromisoformat(last)).total_seconds()
        report.update(last_publish=last, last_publish_age_s=round(age, 1))
    report["ready"] = ready
    return web.json_response(report, status=200 if ready else 503, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    site = request.app[SITE_KEY]
    config = site.config()
    try:
        states = await site.store.states()
        items = await site.store.item_count()
    except Exception:  # still serve the counters; the health gauges keep their last values
        log.exception("metrics.store_failed")
    else:
        site.metrics.set_health(states.values(), [s.name for s in config.sources if s.enabled], items)
        last = await site.store.get_meta("last_publish")
        if last:
            site.metrics.last_publish.set(datetime.fromisoformat(last).timestamp())
    return web.Response(body=site.metrics.render(), headers={"Content-Type": METRICS_TYPE})


def app(site: Site) -> web.Application:
    application = web.Application()
    application[SITE_KEY] = site
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    application.router.add_get("/metrics", metrics)
    application.router.add_get("/{tail:.*}", output_file)
    return application


async def start(site: Site, host: str, port: int) -> web.AppRunner:
    """Serve in the background of the running loop; ``cleanup()`` lets in-flight responses finish first."""
    runner = web.AppRunner(app(site), shutdown_timeout=10, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    logs.event(log, "serve.started", url=f"http://{host}:{port}/", output=str(site.root))
    return runner


async def serve_output(loaded: LoadedConfig, host: str, port: int) -> None:
    """``aggregator serve``: the output and health of a config until SIGINT/SIGTERM."""
    async with Store(loaded.settings.database_url) as store:
        runner = await start(Site(lambda: loaded.config, store, Metrics(), str(loaded.path)), host, port)
        try:
            await until_stopped()
        finally:
            await runner.cleanup()


async def until_stopped() -> None:
    """Wait for SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
