"""Per-host and global limits: a host with many feeds never sees more than ``per_host`` requests at once."""

from pathlib import Path

from aggregator import config
from aggregator.service import Service
from tests.conftest import FeedServer, write_config


async def test_a_busy_host_gets_per_host_requests_at_once_and_does_not_hold_up_others(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    port = feed_server.base.rsplit(":", 1)[1]
    platform = {f"platform-{n}": feed_server.url(f"held/{n}") for n in range(8)}
    other = {f"other-{n}": f"http://localhost:{port}/held/{n}" for n in range(2)}
    path = write_config(tmp_path, platform | other, extra="per_host: 2\nconcurrency: 3")
    async with Service(config.load(path)) as service:
        report = await service.once()
    assert not report.failed, [r.error for r in report.failed]
    assert feed_server.most_active["127.0.0.1"] == 2
    # The platform's queued feeds hold no global slot: the other host was served meanwhile, not last.
    hosts = [headers["Host"].split(":")[0] for _, headers in feed_server.requests]
    assert hosts.index("localhost") < 4, hosts
    assert feed_server.most_active_total == 3


async def test_the_global_limit_caps_all_hosts_together(feed_server: FeedServer, tmp_path: Path) -> None:
    port = feed_server.base.rsplit(":", 1)[1]
    sources = {f"a-{n}": feed_server.url(f"held/{n}") for n in range(4)}
    sources |= {f"b-{n}": f"http://localhost:{port}/held/{n}" for n in range(4)}
    path = write_config(tmp_path, sources, extra="per_host: 4\nconcurrency: 3")
    async with Service(config.load(path)) as service:
        report = await service.once()
    assert not report.failed
    assert feed_server.most_active_total == 3
