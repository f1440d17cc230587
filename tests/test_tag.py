"""Topic rules: whole words, folded case and diacritics, any/all/none, regexes, fields, sources, combined topics."""

import pytest

from aggregator.tag import RuleSpec, compile_rules, item_fields, topics_for


def spec(topic: str, *any_: str, **extra: tuple[str, ...]) -> RuleSpec:
    return RuleSpec(topic, any=any_, **extra)  # type: ignore[arg-type]


def topics(text: str, rules: object, source: str = "s", tags: tuple[str, ...] = ()) -> tuple[str, ...]:
    return topics_for(item_fields(text, "", "", (), None, None), source, tags, rules)  # type: ignore[arg-type]


RULES = compile_rules((spec("trump", "Trump", "Donald Trump"),))


@pytest.mark.parametrize(
    "text", ["Trump speaks", "TRUMP", "Trump's plan", "Donald Trump", "kata Trump-nya", "(trump)", "«Trump»", "trümp"]
)
def test_whole_word_matches(text: str) -> None:
    assert topics(text, RULES) == ("trump",)


@pytest.mark.parametrize("text", ["Trumpet solo", "trumpeters", "Trumpf laser", "@realDonaldTrump", "ÜberTrump"])
def test_no_match_inside_words(text: str) -> None:
    assert topics(text, RULES) == ()


def test_any_all_none_combine_as_named() -> None:
    rules = compile_rules(
        (RuleSpec("ban", any=("Parler", "Twitter"), all=("blokir",), none=("review",)), spec("phrase", "Snap Inc"))
    )
    assert topics("Twitter blokir akun", rules) == ("ban",)
    assert topics("Twitter tanpa kata kunci", rules) == ()
    assert topics("Parler blokir, review lengkap", rules) == ()
    assert topics("Snap   Inc said", rules) == ("phrase",)


def test_case_and_diacritics_fold_both_ways() -> None:
    rules = compile_rules((spec("app", "aplicación"), spec("cafe", "cafe")))
    assert topics("La APLICACION de Trump", rules) == ("app",)
    assert topics("la aplicación", rules) == ("app",)
    assert topics("Un CAFÉ solo", rules) == ("cafe",)
    assert topics("cafés", rules) == ()


def test_scripts_without_spaces_match_inside_text() -> None:
    rules = compile_rules((spec("trump", "特朗普"), spec("thai", "ทรัมป์")))
    assert topics("美国前总统特朗普今天表示", rules) == ("trump",)
    assert topics("อดีตประธานาธิบดีทรัมป์กล่าว", rules) == ("thai",)


def test_phrases_count_for_the_keywords_inside_them() -> None:
    rules = compile_rules(
        (spec("trump", "Trump"), spec("donald", "Donald Trump"), spec("snap", "Snap"), spec("snapinc", "Snap Inc"),
         spec("bc", "B C"), spec("ab", "A B"))
    )  # fmt: skip
    assert topics("Donald Trump", rules) == ("trump", "donald")
    assert topics("Snap Inc.", rules) == ("snap", "snapinc")
    assert topics("x A B C y", rules) == ("bc", "ab")


def test_regular_expressions_run_in_linear_time() -> None:
    rules = compile_rules(
        (RuleSpec("model", any=(r"re:\biphone\s*1[2-5]\b",), none=(r"re:(a+)+$",)), spec("plain", "iPhone"))
    )
    assert topics("Apple iPhone 13 Pro", rules) == ("model", "plain")
    assert topics("Apple iPhone 11", rules) == ("plain",)
    assert topics("iphone 12 " + "a" * 50_000 + "!", rules) == ("model", "plain")  # no catastrophic backtracking


def test_fields_choose_where_to_look() -> None:
    rules = compile_rules(
        (
            spec("by-author", "Rina", fields=("author",)),
            spec("in-link", "parler", fields=("link",)),
            spec("any", "Rina"),
        )
    )
    fields = item_fields("Judul", "", "", (), "Rina Kartika", "https://x.example/2021/parler-kembali")
    assert topics_for(fields, "s", (), rules) == ("by-author", "in-link")
    assert topics_for(item_fields("Rina menulis", "", "", (), None, None), "s", (), rules) == ("any",)


def test_topics_restricted_to_sources_or_tags() -> None:
    rules = compile_rules(
        (spec("local", "Trump", sources=("telset",)), spec("english", "Trump", tags=("en",)), spec("all", "Trump"))
    )
    assert topics("Trump", rules, "telset", ("id",)) == ("local", "all")
    assert topics("Trump", rules, "wire", ("en",)) == ("english", "all")
    assert topics("Trump", rules, "other", ()) == ("all",)


def test_a_topic_can_combine_others() -> None:
    rules = compile_rules(
        (RuleSpec("social", include=("apps",)), spec("twitter", "Twitter"), spec("tiktok", "TikTok"),
         RuleSpec("apps", include=("twitter", "tiktok")), spec("own", "Parler", include=("twitter",)))
    )  # fmt: skip
    assert topics("TikTok ban", rules) == ("social", "tiktok", "apps")
    assert topics("Twitter", rules) == ("social", "twitter", "apps", "own")
    assert topics("Parler", rules) == ("own",)
    assert topics("nothing", rules) == ()


def test_a_phrase_mixing_scripts_and_a_plain_word_starting_together_both_match() -> None:
    rules = compile_rules((spec("phrase", "Samsung 三星"), spec("word", "samsung"), spec("cjk", "三星")))
    assert topics("Samsung 三星 新品", rules) == ("phrase", "word", "cjk")
    assert topics("我的三星手机", rules) == ("cjk",)


def test_vowel_signs_are_part_of_words_in_indic_scripts() -> None:
    rules = compile_rules((spec("bharat", "भारत"), spec("rat", "रत")))
    assert topics("भारत में चुनाव", rules) == ("bharat",)
    assert topics("भारतीय खबर", rules) == ()  # "भारत" + a vowel sign is another word
