"""pygeoapi's language negotiation as OneMap installs it: always one of the configured locales, never an error."""

from __future__ import annotations

import pytest
from babel import Locale

from layers.registry import default_registry
from mapserver.pygeoapi_config import build_pygeoapi_config
from mapserver.pygeoapi_l10n import best_match, get_choice_from_headers

CONFIGURED = build_pygeoapi_config(default_registry(), db_url="postgresql://u:p@localhost/x",
                                   public_url="http://testserver", raster=None)["server"]["languages"]
DEFAULT = Locale.parse(CONFIGURED[0].replace("-", "_"))
ENGLISH = next(Locale.parse(tag.replace("-", "_")) for tag in CONFIGURED if tag.startswith("en"))


def choose(header: str) -> Locale:
    return best_match(get_choice_from_headers({"Accept-Language": header}, "accept-language", all=True) or [],
                      CONFIGURED)


@pytest.mark.parametrize("header", ["fr", "de", "xx", "zh", "zh-TW", "zh-Hant-HK", "*", "fr;q=0", "en;q=0, fr",
                                    "fr;q=abc", "fr;q=nan", "fr;q=inf", "fr;q=1.5", "q=0.5", ";;;", ",", "i-klingon",
                                    "x" * 5000, "", "中文", "de-DE-1996", "zh_CN"])
def test_anything_but_english_gets_the_default_locale(header: str) -> None:
    assert choose(header) == DEFAULT


@pytest.mark.parametrize("header", ["en", "en-GB", "EN_us", "fr;q=0.5, en", "de;q=0.1, en;q=0.9", "en;level=1;q=0.5"])
def test_english_is_matched_whatever_its_region(header: str) -> None:
    assert choose(header) == ENGLISH


def test_choices_are_ordered_by_quality_and_zero_means_not_acceptable() -> None:
    header = "de;q=0.2, fr, en;q=0, it;q=0.9"
    assert get_choice_from_headers({"accept-language": header}, "accept-language", all=True) == ["fr", "it", "de"]
    assert get_choice_from_headers({"accept-language": header}, "accept-language") == "fr"
    assert get_choice_from_headers({"accept": "text/html;q=0"}, "accept") is None
    assert get_choice_from_headers({}, "accept") is None
