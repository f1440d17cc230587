"""Pages and embeds in a real browser: headless Chromium (Debian's) driven by Playwright.

A host page on one loopback origin embeds a topic served from another, with the snippets exactly as
published; the items must render, the host's CSS must not reach them, a hostile item must stay inert,
and nothing may log a console error. Screenshots land in the test's temp folder.
"""

from __future__ import annotations

import html
import re
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Dialog, Page, Response, async_playwright

from aggregator import config, serve
from aggregator.metrics import Metrics
from aggregator.service import Service
from aggregator.store import Store
from tests.conftest import FeedServer, write_config

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A site owner's blog</title>
<link rel="icon" href="data:,">
<style>
  * {{ color: red !important; font-family: serif !important; }}
  li, a {{ display: none !important; }}
  h3 {{ font-size: 60px !important; }}
</style></head>
<body><h1>My blog</h1><p>Latest Trump stories:</p>
{script}
<p>And in an iframe:</p>
{iframe}
</body></html>
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Watched:
    """What a page did that it should not: console errors, uncaught errors, dialogs, failed loads.

    ``foreign`` lists origins whose resources are the sources' own (an item's image): a source's broken
    image is the source's problem, not the page's.
    """

    foreign: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"error: {e}"))
        page.on("dialog", self._dialog)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location.get("url", "").startswith(self.foreign or ("\0",)):
            self.problems.append(f"console: {message.text} ({message.location.get('url')})")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and not response.url.startswith(self.foreign or ("\0",)):
            self.problems.append(f"HTTP {response.status}: {response.url}")

    async def _dialog(self, dialog: Dialog) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        await dialog.dismiss()


@dataclass
class Published:
    base: str  # where output/ is served
    output: Path
    sources: str  # the origin of the source feeds (and so of their items' images)


@pytest.fixture(params=["aggregator serve", "static hosting"])
async def published(
    request: pytest.FixtureRequest, feed_server: FeedServer, tmp_path: Path
) -> AsyncIterator[Published]:
    """The output served by our app, or by a plain static file server (no CORS, no special headers)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    sources = {
        "kabartekno": feed_server.put_file("wordpress_id.rss"),
        "hostile": feed_server.put_file("hostile.rss"),
        "cafe": feed_server.put_file("latin1.rss"),
    }
    path = write_config(tmp_path, sources, extra=f"base_url: {base}")
    loaded = config.load(path)
    async with Service(loaded) as service:
        report = await service.once()
    assert not report.failed
    output = loaded.settings.output_dir
    if request.param == "static hosting":
        application = web.Application()
        application.router.add_static("/", output, show_index=False)
        runner = web.AppRunner(application)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield Published(base, output, feed_server.base)
        await runner.cleanup()
        return
    async with Store(loaded.settings.database_url) as store:
        runner = await serve.start(serve.Site(lambda: loaded.config, store, Metrics()), "127.0.0.1", port)
        yield Published(base, output, feed_server.base)
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


def published_snippets(page: Path) -> tuple[str, str]:
    """The script and iframe snippets as a site owner copies them from the topic page."""
    snippets = [html.unescape(code) for code in re.findall(r"<pre><code>(.*?)</code></pre>", page.read_text())]
    script = next(s for s in snippets if s.startswith("<script"))
    iframe = next(s for s in snippets if s.startswith("<iframe"))
    return script, iframe


async def host_site(page_html: str) -> AsyncIterator[str]:
    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    application = web.Application()
    application.router.add_get("/", index)
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


async def test_a_topic_embeds_on_another_origin_isolated_and_inert(
    published: Published, browser: Browser, tmp_path: Path
) -> None:
    script, iframe = published_snippets(published.output / "trump" / "index.html")
    assert script.startswith(f'<script src="{published.base}trump/embed.js"')
    script = script.replace('data-count="5"', 'data-count="3"')
    iframe = iframe.replace("embed.html", "embed.html?count=2&summary=false")
    async for host in host_site(HOST_PAGE.format(script=script, iframe=iframe)):
        page = await browser.new_page(viewport={"width": 1000, "height": 1400})
        watched = Watched()
        watched.attach(page)
        await page.goto(host)
        items = page.locator("div.aggregator-embed li")  # Playwright's CSS pierces the open shadow root
        await items.nth(2).wait_for()
        assert await items.count() == 3
        titles = await page.locator("div.aggregator-embed h3").all_inner_texts()
        assert "Trump headline" in titles  # the hostile item, its markup gone
        shadow_scripts = await page.evaluate(
            "document.querySelector('div.aggregator-embed').shadowRoot.querySelectorAll('script, iframe, img').length"
        )
        assert shadow_scripts == 0
        first_link = page.locator("div.aggregator-embed h3 a").first
        assert await first_link.is_visible()  # the host's `a { display: none !important }` did not reach it
        color = await first_link.evaluate("a => getComputedStyle(a).color")
        assert color != "rgb(255, 0, 0)"
        summaries = await page.locator("div.aggregator-embed .summary").all_inner_texts()
        assert any("Safe text about Trump." in s for s in summaries)
        hrefs = await page.locator("div.aggregator-embed a").evaluate_all("links => links.map(a => a.href)")
        assert hrefs
        assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
        sources = await page.locator("div.aggregator-embed .meta").all_inner_texts()
        assert all(" · " in s for s in sources)  # every item names its source

        frame = page.frame_locator("iframe")
        await frame.locator("li").first.wait_for()
        assert await frame.locator("li:visible").count() == 2
        assert await frame.locator(".summary:visible").count() == 0

        await page.screenshot(path=str(tmp_path / "embed.png"), full_page=True)
        assert await page.evaluate("document.body.innerText.includes('pwned')") is False
        assert watched.problems == []


async def test_topic_page_is_inert_readable_on_a_phone_and_discoverable(
    published: Published, browser: Browser, tmp_path: Path
) -> None:
    page = await browser.new_page(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True)
    watched = Watched(foreign=(published.sources,))  # the hostile item's <img src="x"> is the source's
    watched.attach(page)
    await page.goto(f"{published.base}trump/index.html")  # by name: a static server has no index files
    await page.locator("article").first.wait_for()
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert await page.locator("link[rel=alternate]").count() == 3
    assert await page.locator("html").get_attribute("lang")
    assert await page.locator("h1").count() == 1
    hostile = page.locator("article", has_text="Safe text about Trump.")
    assert await hostile.locator("script, iframe, form, [onclick], [onerror], [style]").count() == 0
    assert await hostile.locator("a[href^='javascript']").count() == 0
    await page.screenshot(path=str(tmp_path / "topic-phone.png"), full_page=True)
    await page.goto(f"{published.base}index.html")
    assert await page.locator("details summary").count() == 3
    assert watched.problems == []
