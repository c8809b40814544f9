"""The one rule for durations and positive numbers (``ringpop.checks``)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringpop.checks import check_seconds, is_utf8_text, number_problem, utf8_safe


@pytest.mark.parametrize("value", [0.001, 1, 2.5, 1e9])
def test_positive_finite_numbers_pass(value: float) -> None:
    assert number_problem(value) is None
    assert number_problem(value, zero_ok=True) is None
    check_seconds("t", value)


@pytest.mark.parametrize("value", [0, 0.0, -0.0, -1, math.nan, math.inf, -math.inf])
def test_zero_negatives_and_non_finite_are_refused(value: float) -> None:
    assert number_problem(value) == "must be a positive, finite number of seconds"
    with pytest.raises(ValueError, match=r"^t must be a positive, finite number of seconds, not "):
        check_seconds("t", value)


def test_zero_ok_allows_zero_only() -> None:
    assert number_problem(0, zero_ok=True) is None
    for bad in (-1e-9, math.nan, math.inf):
        assert number_problem(bad, zero_ok=True) == "must be a finite number of seconds >= 0"


@pytest.mark.parametrize("value", [True, False, "1", None, b"1", [1]])
def test_things_that_are_not_numbers_are_refused_without_a_type_error(value: object) -> None:
    assert number_problem(value) == "must be a number of seconds"
    with pytest.raises(ValueError, match="must be a number of seconds, not "):
        check_seconds("t", value)


def test_the_unit_and_the_error_class_are_the_callers() -> None:
    assert number_problem(-1, unit="") == "must be a positive, finite number"
    assert number_problem("x", unit="bytes") == "must be a number of bytes"

    class CustomError(Exception):
        pass

    message = r"^reload must be a finite number of seconds >= 0, not -2$"
    with pytest.raises(CustomError, match=message):
        check_seconds("reload", -2, zero_ok=True, error=CustomError)


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**62), 2**62))
def test_the_rule_is_exactly_finite_and_above_zero(value: float) -> None:
    assert (number_problem(value) is None) == (math.isfinite(value) and value > 0)
    assert (number_problem(value, zero_ok=True) is None) == (math.isfinite(value) and value >= 0)


def test_utf8_text_and_its_escape() -> None:
    assert is_utf8_text("héllo ✓")
    assert not is_utf8_text("a\ud800b")
    assert utf8_safe("héllo") == "héllo"
    assert utf8_safe("a\ud800b") == "a\\ud800b"
    utf8_safe("a\udfff").encode()  # now always encodes


_PIECES = st.sampled_from(["a", "é", "✓", "\\", "\ud800", "\udfff", "\U0001f600"])


@given(st.text(st.characters(codec=None, exclude_categories=())) | st.lists(_PIECES).map("".join))
def test_utf8_safe_always_encodes_and_keeps_good_text(text: str) -> None:
    safe = utf8_safe(text)
    safe.encode()
    assert (safe == text) == is_utf8_text(text)


def test_check_whole_names_the_first_value_that_is_not_a_whole_number() -> None:
    from ringpop.checks import check_whole

    check_whole(("a", 0), ("b", -3), ("c", 10**30))
    for wrong in (1.0, True, "1", None, float("inf")):
        with pytest.raises(TypeError, match=r"^b must be a whole number, not "):
            check_whole(("a", 1), ("b", wrong), ("c", "also wrong"))


def test_check_bytes_takes_bytes_like_and_names_text() -> None:
    from ringpop.checks import check_bytes

    for fine in (b"x", bytearray(b"x"), memoryview(b"x")):
        check_bytes("arg3", fine)
    with pytest.raises(TypeError, match=r"^arg3 must be bytes, not str \(encode text first\)$"):
        check_bytes("arg3", "x")
    with pytest.raises(TypeError, match=r"^body must be bytes, not NoneType$"):
        check_bytes("body", None)


def test_as_options_takes_the_class_or_a_mapping_of_its_fields() -> None:
    from dataclasses import dataclass

    from ringpop.checks import as_options

    @dataclass
    class Tunables:
        size: int = 1

    given = Tunables(3)
    assert as_options(Tunables, given, "t") is given
    assert as_options(Tunables, {"size": 5}, "t") == Tunables(5)
    with pytest.raises(ValueError, match=r"^t: .*colour"):
        as_options(Tunables, {"colour": 1}, "t")
    with pytest.raises(TypeError, match=r"^t must be Tunables or a mapping, not 5$"):
        as_options(Tunables, 5, "t")


def test_check_text_and_check_callable_name_what_they_refuse() -> None:
    from ringpop.checks import check_callable, check_text

    check_text("name", "a")
    check_text("key", "", empty_ok=True)
    with pytest.raises(TypeError, match=r"^name must be a str, not b'a'$"):
        check_text("name", b"a")
    with pytest.raises(ValueError, match=r"^name must not be empty$"):
        check_text("name", "")
    with pytest.raises(ValueError, match=r"^name '\\udce9' holds a lone surrogate"):
        check_text("name", "\udce9")
    check_callable("hook", print)
    with pytest.raises(TypeError, match=r"^hook must be callable, not 5$"):
        check_callable("hook", 5)
