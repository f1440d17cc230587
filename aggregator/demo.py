"""``aggregator demo``: bundled sample feeds served on loopback, aggregated and published, offline."""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import resources
from pathlib import Path

from aiohttp import web

from aggregator import config as config_module
from aggregator import serve
from aggregator.metrics import Metrics
from aggregator.service import Service

TOPICS = """\
topics:
  - name: trump
    title: Donald Trump
    description: Stories about Donald Trump, in Indonesian and English.
    match:
      any: ["Trump", "Donald Trump"]
  - name: parler
    title: Parler
    match:
      any: ["Parler"]
  - name: snapchat
    title: Snapchat
    match:
      any: ["Snapchat", "Snap Inc"]
  - name: platforms
    title: Platforms and moderation
    description: Platforms removing accounts or apps.
    match:
      any: ["blokir", "hapus", "kunci", "tendang", "pulls", "suspended"]
      none: ["review"]
"""


def sample_feeds() -> dict[str, bytes]:
    folder = resources.files("aggregator") / "demo"
    return {entry.name: entry.read_bytes() for entry in folder.iterdir() if entry.name.endswith(".xml")}


def feed_app(feeds: dict[str, bytes]) -> web.Application:
    """A tiny feed host with ETags, so a second poll of the demo costs a 304."""

    async def handle(request: web.Request) -> web.Response:
        body = feeds.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml"})

    app = web.Application()
    app.router.add_get("/{name}", handle)
    return app


def write_config(folder: Path, feeds_base: str, public_base: str, names: list[str]) -> Path:
    lines = [
        "# Written by `aggregator demo`: sample feeds served on loopback.",
        "settings:",
        '  title: "Aggregator demo"',
        "  output_dir: output",
        "  database: demo.db",
        f"  base_url: {json.dumps(public_base)}",
        "  allow_private_networks: true  # the sample feeds are served on 127.0.0.1",
        "  per_host: 4",
        "sources:",
    ]
    for name in sorted(names):
        lines += [f"  - name: {name.removesuffix('.xml')}", f"    url: {json.dumps(feeds_base + name)}"]
    path = folder / "feeds.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" + TOPICS, encoding="utf-8")
    return path


async def main(folder: Path, serve_output: bool = True, port: int = 8080) -> int:
    feeds: dict[str, bytes] = {}
    runner = web.AppRunner(feed_app(feeds))  # filled below, once the port (part of the feeds' URLs) is known
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    feeds.update({name: body.replace(b"{{BASE}}", base.rstrip("/").encode()) for name, body in sample_feeds().items()})
    try:
        path = write_config(folder, base, f"http://127.0.0.1:{port}/", list(feeds))
        loaded = config_module.load(path)
        async with Service(loaded, Metrics()) as service:
            report = await service.once()
            for failure in report.failed:
                print(f"{failure.source}: {failure.error}", file=sys.stderr)
            out = loaded.settings.output_dir
            print(f"demo: {len(feeds)} sample feeds, {report.entries_stored} items stored, output in {out}")
            if not serve_output:
                return 0
            assert service.metrics is not None
            site = serve.Site(lambda: loaded.config, service.store, service.metrics, str(path))
            output = await serve.start(site, "127.0.0.1", port)
            print(f"demo: open http://127.0.0.1:{port}/ (Ctrl-C to stop)")
            try:
                await serve.until_stopped()
            finally:
                await output.cleanup()
            return 0
    finally:
        await runner.cleanup()
