"""Country names and codes to ISO 3166-1 alpha-2, so "Germany", "DE" and "DEU" agree."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pycountry

# Names people type that pycountry's lookup does not know.
_ALIASES = {
    "usa": "US", "u.s.": "US", "u.s.a.": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "u.k.": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "great britain": "GB",
    "northern ireland": "GB", "holland": "NL", "south korea": "KR", "korea": "KR", "russia": "RU",
    "vietnam": "VN", "iran": "IR", "syria": "SY", "laos": "LA", "bolivia": "BO", "venezuela": "VE",
    "tanzania": "TZ", "taiwan": "TW", "czech republic": "CZ", "ivory coast": "CI", "uae": "AE",
    # Names in the country's own language, as forms in it are filled in.
    "deutschland": "DE", "österreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH", "españa": "ES",
    "italia": "IT", "nederland": "NL", "belgië": "BE", "belgique": "BE", "belgien": "BE", "sverige": "SE",
    "norge": "NO", "danmark": "DK", "suomi": "FI", "polska": "PL", "česko": "CZ", "magyarország": "HU",
    "brasil": "BR", "méxico": "MX", "éire": "IE", "türkiye": "TR", "ελλάδα": "GR", "россия": "RU",
    "日本": "JP", "中国": "CN", "대한민국": "KR",
}


@lru_cache(maxsize=4096)
def _lookup(text: str) -> str | None:
    alias = _ALIASES.get(text.casefold())
    if alias:
        return alias
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None


def normalise_country(value: Any) -> str | None:
    """ISO alpha-2 code for a country code or name, or None when it is not a country."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return _lookup(text) if text else None
