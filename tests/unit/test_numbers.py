"""A score is shown cut, not rounded: a shown score never meets a bar the real one misses (issue 13, tried as a
user: ten points earned nine minutes before fifteen more decayed to 24.997, shown as 25.0 beside a bar of 25)."""

import pytest

from leadrelay.core.numbers import score_text, shown


@pytest.mark.parametrize(("value", "text"), [
    (24.997, "24.9"), (25.0, "25"), (25.04, "25"), (12.5, "12.5"), (2.3, "2.3"), (0.0, "0"), (-5.55, "-5.6"),
    (40, "40")])
def test_a_score_is_shown_to_one_decimal_cut_toward_minus_infinity(value, text):
    assert score_text(value) == text


def test_a_score_just_below_a_bar_never_reads_as_the_bar():
    assert shown(24.997) < 25 and shown(24.9999, 2) == 24.99 and f"{shown(24.997):.1f}" == "24.9"
