import pytest

from aggregator.tag import compile_rules, topics_for

RULES = compile_rules((("trump", ("Trump", "Donald Trump"), (), ()),))


@pytest.mark.parametrize(
    "text", ["Trump speaks", "TRUMP", "Trump's plan", "Donald Trump", "kata Trump-nya", "(trump)", "«Trump»"]
)
def test_whole_word_matches(text: str) -> None:
    assert topics_for(text, RULES) == ("trump",)


@pytest.mark.parametrize("text", ["Trumpet solo", "trumpeters", "Trumpf laser", "@realDonaldTrump", "ÜberTrump"])
def test_no_match_inside_words(text: str) -> None:
    assert topics_for(text, RULES) == ()


def test_any_all_none_combine_as_named() -> None:
    rules = compile_rules(
        (
            ("ban", ("Parler", "Twitter"), ("blokir",), ("review",)),
            ("phrase", ("Snap Inc",), (), ()),
        )
    )
    assert topics_for("Twitter blokir akun", rules) == ("ban",)
    assert topics_for("Twitter tanpa kata kunci", rules) == ()
    assert topics_for("Parler blokir, review lengkap", rules) == ()
    assert topics_for("Snap   Inc said", rules) == ("phrase",)


def test_unicode_keywords() -> None:
    rules = compile_rules((("cafe", ("café",), (), ()),))
    assert topics_for("Un CAFÉ solo", rules) == ("cafe",)
    assert topics_for("cafés", rules) == ()


def test_phrases_count_for_the_keywords_inside_them() -> None:
    rules = compile_rules(
        (("trump", ("Trump",), (), ()), ("donald", ("Donald Trump",), (), ()), ("snap", ("Snap",), (), ()),
         ("snapinc", ("Snap Inc",), (), ()), ("bc", ("B C",), (), ()), ("ab", ("A B",), (), ()))
    )  # fmt: skip
    assert topics_for("Donald Trump", rules) == ("trump", "donald")
    assert topics_for("Snap Inc.", rules) == ("snap", "snapinc")
    assert topics_for("x A B C y", rules) == ("bc", "ab")
