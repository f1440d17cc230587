from pathlib import Path

import pytest

from aggregator import config
from aggregator.errors import ConfigError

REPO = Path(__file__).parent.parent


def problems(text: str) -> list[str]:
    _, found = config.parse(text, "feeds.yaml")
    return found


def test_the_default_feeds_yaml_is_valid() -> None:
    loaded = config.load(REPO / "feeds.yaml")
    names = [s.name for s in loaded.config.sources]
    assert "telset" in names
    assert loaded.config.source("telset").url == "https://telset.id/feed/"
    assert {"trump", "parler", "snapchat"} <= {t.name for t in loaded.config.topics}
    assert not loaded.settings.allow_private_networks


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("settings:\n  output_dir: public\n  database: state/db.sqlite\n")
    loaded = config.load(path)
    assert loaded.settings.output_dir == tmp_path / "public"
    assert loaded.settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'state/db.sqlite'}"


@pytest.mark.parametrize(("value", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)])
def test_durations(value: str, seconds: float) -> None:
    assert config.parse_duration(value) == seconds


def test_sizes() -> None:
    assert config.parse_size("10MB") == 10_000_000
    assert config.parse_size("512KiB") == 512 * 1024


def test_unknown_key_names_file_line_and_the_key() -> None:
    found = problems("settings:\n  concurency: 5\nsources: []\n")
    assert found == ["feeds.yaml:2: unknown key 'concurency' in settings: remove it or check its spelling"]


def test_bad_duration_says_what_to_write() -> None:
    found = problems("sources:\n  - name: a\n    url: https://a.example/feed\n    interval: 15 minutes\n")
    assert len(found) == 1
    assert found[0].startswith("feeds.yaml:4: sources.0.interval:")
    assert "like 90s, 15m, 2h or 1d" in found[0]


def test_bad_url_and_bad_name() -> None:
    found = problems("sources:\n  - name: Tech News\n    url: telset.id/feed\n")
    assert any(p.startswith("feeds.yaml:2:") and "not a valid name" in p for p in found)
    assert any(p.startswith("feeds.yaml:3:") and "not an http(s) URL" in p for p in found)


def test_duplicate_names_point_at_both_lines() -> None:
    text = (
        "sources:\n"
        "  - name: telset\n    url: https://telset.id/feed/\n"
        "  - name: telset\n    url: https://telset.id/other/\n"
    )
    found = problems(text)
    assert found == ["feeds.yaml:4: source name 'telset' is already used on line 2; names must be unique"]


def test_duplicate_keys_in_a_mapping() -> None:
    found = problems("settings:\n  concurrency: 5\n  concurrency: 6\n")
    assert found == ["feeds.yaml:3: 'concurrency' appears twice in the same mapping; keep one of them"]


def test_topic_needs_keywords() -> None:
    found = problems("topics:\n  - name: empty\n    title: Empty\n    match:\n      none: [x]\n")
    assert len(found) == 1
    assert found[0].startswith("feeds.yaml:4:")
    assert "needs keywords" in found[0]


def test_missing_field() -> None:
    assert problems("sources:\n  - name: a\n") == ["feeds.yaml:2: sources.0.url is missing: add it"]


def test_invalid_yaml_names_the_line() -> None:
    found = problems("sources:\n  - name: a\n   url: [\n")
    assert len(found) == 1
    assert found[0].startswith("feeds.yaml:")
    assert "not valid YAML" in found[0]


def test_private_source_needs_the_setting() -> None:
    found = problems("sources:\n  - name: local\n    url: http://127.0.0.1:8000/feed.xml\n")
    assert found == [
        "feeds.yaml:3: source 'local' points at a private address (127.0.0.1); "
        "set settings.allow_private_networks: true if that is intended"
    ]
    assert not problems(
        "settings:\n  allow_private_networks: true\nsources:\n  - name: local\n    url: http://127.0.0.1:8000/f\n"
    )


def test_load_raises_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("settings:\n  bogus: 1\nsources:\n  - name: a\n")
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert len(caught.value.problems) == 2
    assert all(p.startswith(f"{path}:") for p in caught.value.problems)


def test_regular_expressions_are_checked_at_load() -> None:
    text = "topics:\n  - name: t\n    title: T\n    match:\n      any: ['re:\\biphone\\s*1[2-5]', 're:(a+)\\1']\n"
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith(
        "feeds.yaml:5: topics.0.match.any: 're:(a+)\\\\1' is not a regular expression RE2 accepts"
    )
    assert "no backreferences or lookarounds" in found[0]


def test_names_a_topic_refers_to_must_exist() -> None:
    text = """\
sources:
  - name: telset
    url: https://telset.id/feed/
    tags: [id]
topics:
  - name: a
    title: A
    sources: [telset, telsat]
    tags: [en]
    include: [b, c]
    match:
      any: [x]
  - name: b
    title: B
    include: [a]
  - name: d
    title: D
  - name: e
    title: E
    include: [e]
"""
    assert problems(text) == [
        "feeds.yaml:16: topics.2: a topic needs 'match' (keywords) or 'include' (other topics), or both",
        "feeds.yaml:18: topics.3: topic 'e' includes itself",
    ]
    text = text.replace("  - name: d\n    title: D\n", "").replace("    include: [e]\n", "    include: [a]\n")
    assert problems(text) == [
        "feeds.yaml:8: topic 'a' names the source 'telsat', which is not defined; known: telset",
        "feeds.yaml:9: topic 'a' names the source tag 'en', which is not defined; known: id",
        "feeds.yaml:10: topic 'a' names the topic 'c', which is not defined; known: a, b, e",
    ]


def test_match_fields_are_checked() -> None:
    text = "topics:\n  - name: t\n    title: T\n    match:\n      any: [x]\n      fields: [title, body]\n"
    assert problems(text)[0].startswith("feeds.yaml:6: topics.0.match.fields.1: Input should be 'title'")


def test_the_shipped_json_schema_is_current_and_accepts_the_default_config() -> None:
    import json

    import jsonschema
    import yaml

    shipped = json.loads((REPO / "feeds.schema.json").read_text())
    assert shipped == config.json_schema(), "feeds.schema.json is stale: run `aggregator schema > feeds.schema.json`"
    assert (REPO / "feeds.yaml").read_text().startswith("# yaml-language-server: $schema=./feeds.schema.json")
    validator = jsonschema.Draft202012Validator(shipped)
    assert list(validator.iter_errors(yaml.safe_load((REPO / "feeds.yaml").read_text()))) == []
    wrong = {"settings": {"timeout": "soon", "colour": "blue"}, "topics": [{"name": "t", "title": "T"}]}
    messages = sorted(e.message for e in validator.iter_errors(wrong))
    assert any("'soon' does not match" in m for m in messages)
    assert any("'colour' was unexpected" in m for m in messages)
