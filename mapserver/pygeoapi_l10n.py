"""Language negotiation for pygeoapi that never fails: an unknown or malformed preference gets the default language.

Two defects of pygeoapi 0.2x turned a browser's or a GIS client's language preference into a 500 on every
``/ogcapi`` route:

* ``l10n.best_match`` builds its fallback as ``Locale(language, territory=...)``. For the configured ``zh-CN``
  that is ``Locale("zh", territory="CN")``, which Babel does not know (it is ``zh_Hans_CN``), so any request
  without an exact match (``?lang=xx``, ``?lang=zh``, ``Accept-Language: fr``) raised ``UnknownLocaleError``.
* ``util.get_choice_from_headers`` divides by the quality value (``fr;q=0`` → ZeroDivisionError), parses it with
  ``float`` unchecked (``q=1.2.3`` → ValueError) and indexes an empty list when nothing is acceptable. It also
  reads the ``Accept`` header, with the same failures.

The replacements keep pygeoapi's contracts: a list of tags ordered by preference, and a Babel ``Locale`` that is
always one of the configured (available) locales — the first one when nothing matches.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from babel import Locale

LOGGER = logging.getLogger(__name__)
# A BCP 47 language tag as clients send them (RFC 5646 subtags are 1-8 alphanumerics; ``_`` as pygeoapi accepts
# it). Anything else is no language we could match, and is not handed to Babel, which would log it whole.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8}){0,7}")


def _quality(params: Iterable[str]) -> float | None:
    """The ``q`` of one header element (1 when absent); None when it is malformed or outside (0, 1]."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
            return q if math.isfinite(q) and 0 < q <= 1 else None  # q=0: "not acceptable"
    return 1.0


def get_choice_from_headers(headers: Mapping[str, Any], header_name: str, all: bool = False) -> Any:  # noqa: A002
    """Same contract as ``pygeoapi.util.get_choice_from_headers``: the choices of an ``Accept``-style header (or
    query parameter) by descending quality, ties in the order given; malformed elements are ignored."""
    from pygeoapi.util import get_from_headers

    header = get_from_headers(headers=headers, header_name=header_name)
    if not isinstance(header, str) or header == "":
        return None
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        value, *params = part.split(";")
        value, q = value.strip(), _quality(params)
        if value and q is not None:
            choices.append((-q, i, value))
    ordered = [value for _, _, value in sorted(choices)]
    if all:
        return ordered
    return ordered[0] if ordered else None


def best_match(accept_languages: Any, available_locales: Iterable[Any]) -> Locale:
    """Same contract as ``pygeoapi.l10n.best_match``, but the answer is always one of ``available_locales`` as
    configured (so ``zh-CN`` stays the valid ``zh_Hans_CN``): the first whose language and territory match an
    accepted tag, else the first whose language does, else the first available locale."""
    from pygeoapi import l10n

    available = [l10n.str2locale(a) for a in available_locales]
    if not available:
        raise l10n.LocaleError("No available locales specified")
    if isinstance(accept_languages, Locale):
        accept_languages = [l10n.locale2str(accept_languages)]
    if not isinstance(accept_languages, list):
        LOGGER.debug("ignoring invalid accept-languages %r", accept_languages)
        accept_languages = []
    for tag in accept_languages:
        if isinstance(tag, str) and not LANGUAGE_TAG.fullmatch(tag.strip()):
            continue
        wanted = l10n.str2locale(tag, True) if isinstance(tag, (str, Locale)) else None
        if wanted is None:
            continue
        same_language = [loc for loc in available if loc.language == wanted.language]
        exact = [loc for loc in same_language if loc.territory == wanted.territory]
        if exact or same_language:
            return (exact or same_language)[0]
    return available[0]


def install() -> None:
    """Point pygeoapi at the safe versions (idempotent; called by the OGC API app factory)."""
    import pygeoapi.api as api
    import pygeoapi.util as util
    from pygeoapi import l10n

    l10n.best_match = best_match  # l10n.translate and get_plugin_locale look it up in the module too
    util.get_choice_from_headers = get_choice_from_headers
    api.get_choice_from_headers = get_choice_from_headers  # imported by name into pygeoapi.api
