"""HTTP over the published output folder: right content types, ETag/304, CORS on feeds, no escape from the folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

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
OUTPUT_KEY = web.AppKey("output", Path)


def _resolve(root: Path, tail: str) -> Path | None:
    """The file under ``root`` a request names, or None; symlinks and ``..`` cannot leave the root."""
    if "\\" in tail or "\x00" in tail:
        return None
    candidate = (root / tail.lstrip("/")).resolve()
    if candidate != root and root not in candidate.parents:
        return None
    if candidate.is_dir():
        candidate = candidate / "index.html"
    return candidate if candidate.is_file() else None


async def output_file(request: web.Request) -> web.StreamResponse:
    root = request.app[OUTPUT_KEY]
    path = _resolve(root, request.match_info["tail"])
    if path is None:
        raise web.HTTPNotFound(text="not found\n")
    body = path.read_bytes()
    etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
    headers = {
        "ETag": etag,
        "Content-Type": FEED_TYPES.get(path.name) or CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        "Cache-Control": "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
    }
    if path.name in FEED_TYPES:
        headers["Access-Control-Allow-Origin"] = "*"
    if etag in {t.strip().removeprefix("W/") for t in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers=headers)
    headers["Vary"] = "Accept-Encoding"
    response = web.Response(body=body, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", "") and len(body) > 512:
        response.enable_compression(web.ContentCoding.gzip)
    return response


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def app(output_dir: Path) -> web.Application:
    application = web.Application()
    application[OUTPUT_KEY] = output_dir.resolve()
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/{tail:.*}", output_file)
    return application


async def start(output_dir: Path, host: str, port: int) -> web.AppRunner:
    """Serve in the background of the running loop; call ``cleanup()`` on the runner to stop."""
    runner = web.AppRunner(app(output_dir), shutdown_timeout=10)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
