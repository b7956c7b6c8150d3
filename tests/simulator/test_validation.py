"""The argument checks: NaN, infinity, wrong types and out-of-range values fail with one line
naming the field; Python and NumPy numbers in range pass; long values are cut in messages."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import WorldConfig
from simulator.validation import (
    SHOWN_CHARS,
    require_choice,
    require_int,
    require_non_negative,
    require_number,
    require_per_segment,
    require_positive,
    require_probability,
    shown,
)

Check = Callable[[str, Any], None]
CHECKS: dict[str, Check] = {
    "number": require_number,
    "positive": require_positive,
    "non_negative": require_non_negative,
    "probability": require_probability,
    "int": lambda name, value: require_int(name, value, 1),
}

BAD = [
    ("number", math.nan, "must be a finite number, got nan"),
    ("number", math.inf, "must be a finite number, got inf"),
    ("number", -math.inf, "must be a finite number, got -inf"),
    ("number", np.float64("nan"), "must be a finite number"),
    ("number", [1.0, 2.0], r"must be a number, got \[1.0, 2.0\]"),
    ("number", "1", "must be a number, got '1'"),
    ("number", True, "must be a number, got True"),
    ("number", np.bool_(True), "must be a number"),
    ("number", None, "must be a number, got None"),
    ("number", 1 + 2j, "must be a number"),
    ("positive", math.nan, "must be a finite number, got nan"),
    ("positive", math.inf, "must be a finite number, got inf"),
    ("positive", 0, "must be > 0, got 0"),
    ("positive", np.float32(-1.0), "must be > 0"),
    ("non_negative", math.nan, "must be a finite number"),
    ("non_negative", math.inf, "must be a finite number"),
    ("non_negative", -1e-300, "must be >= 0"),
    ("probability", math.nan, "must be a finite number"),
    ("probability", 1.0000001, r"must be a probability in \[0, 1\]"),
    ("int", 2.0, "must be an integer >= 1, got 2.0"),
    ("int", math.nan, "must be an integer >= 1, got nan"),
    ("int", math.inf, "must be an integer >= 1, got inf"),
    ("int", True, "must be an integer >= 1, got True"),
    ("int", np.float64(3.0), "must be an integer >= 1"),
    ("int", np.int64(0), "must be an integer >= 1"),
    ("int", "5", "must be an integer >= 1, got '5'"),
]


@pytest.mark.parametrize(("check", "value", "message"), BAD)
def test_bad_values_fail_with_one_line_naming_the_field(
    check: str, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^field {message}") as error:
        CHECKS[check]("field", value)
    assert "\n" not in str(error.value)


GOOD = [
    ("number", -3.5),
    ("number", np.float32(2.5)),
    ("number", np.int8(-1)),
    ("positive", 1e-300),
    ("positive", np.int64(7)),
    ("non_negative", 0),
    ("non_negative", np.uint8(0)),
    ("probability", 0.0),
    ("probability", np.float64(1.0)),
    ("int", 1),
    ("int", np.int64(50)),
    ("int", np.uint64(2**63)),
    ("int", 10**30),
]


@pytest.mark.parametrize(("check", "value"), GOOD)
def test_good_values_pass(check: str, value: Any) -> None:
    CHECKS[check]("field", value)


def test_a_per_segment_setting_is_one_value_or_one_valid_value_per_segment() -> None:
    require_per_segment("label_delay", 0.5, 3, require_non_negative)
    require_per_segment("label_delay", [0.0, np.float64(1.0), 2], 3, require_non_negative)
    with pytest.raises(ValueError, match=r"^label_delay must be a number or a list of 3 "):
        require_per_segment("label_delay", (1.0, 2.0), 3, require_non_negative)
    with pytest.raises(ValueError, match=r"^label_delay\[1\] must be a finite number, got nan$"):
        require_per_segment("label_delay", [0.0, math.nan, 1.0], 3, require_non_negative)
    with pytest.raises(ValueError, match=r"^label_delay must be >= 0, got -1$"):
        require_per_segment("label_delay", -1, 3, require_non_negative)


def test_a_window_may_be_infinite_but_not_nan() -> None:
    require_positive("window", math.inf, infinite=True)
    with pytest.raises(ValueError, match="window must be a finite number, got nan"):
        require_positive("window", math.nan, infinite=True)
    with pytest.raises(ValueError, match="window must be > 0, got -inf"):
        require_positive("window", -math.inf, infinite=True)


def test_long_values_are_cut() -> None:
    huge = "x" * 5_000_000
    with pytest.raises(ValueError) as error:
        require_number("affinity", huge)
    assert len(str(error.value)) < 2 * SHOWN_CHARS
    assert str(error.value).endswith("...")
    with pytest.raises(ValueError) as error:
        require_choice("dynamics", huge, ("consumption", "interest"))
    assert len(str(error.value)) < 4 * SHOWN_CHARS


def test_an_integer_too_long_to_print_is_shown_by_size() -> None:
    assert shown(10**5000) == "an integer of 16610 bits"


def test_shown_is_one_line() -> None:
    assert shown("a\nb") == "'a\\nb'"
    assert shown(list(range(1000))).endswith("...")
    assert "\n" not in shown(np.arange(100).reshape(10, 10))


def test_numpy_integers_build_a_world_config() -> None:
    config = WorldConfig(
        n_users=np.int64(50), n_items=np.int32(20), mean_sessions_per_day=np.float64(0.5)
    )
    assert config.n_users == 50


# ------------------------------------------------------------------ properties
NON_NUMBERS = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3),
    st.complex_numbers(allow_nan=False, allow_infinity=False).filter(lambda z: z.imag != 0),
)
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf]).flatmap(
    lambda x: st.sampled_from([x, np.float64(x), np.float32(x), np.float16(x)])
)
FINITE = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(np.int64),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(np.float32),
)


def _one_line_naming(check: Check, value: Any) -> None:
    with pytest.raises(ValueError) as error:
        check("some.field", value)
    message = str(error.value)
    assert message.startswith("some.field must be")
    assert "\n" not in message
    assert len(message) < 3 * SHOWN_CHARS


@given(st.sampled_from(sorted(CHECKS)), st.one_of(NON_NUMBERS, NOT_FINITE))
def test_wrong_types_and_non_finite_values_always_fail(check: str, value: Any) -> None:
    _one_line_naming(CHECKS[check], value)


@given(FINITE)
def test_finite_numbers_pass_require_number(value: Any) -> None:
    require_number("x", value)


@given(FINITE)
def test_positive_and_non_negative_agree_with_the_sign(value: Any) -> None:
    for check, valid in ((require_positive, value > 0), (require_non_negative, value >= 0)):
        if valid:
            check("x", value)
        else:
            _one_line_naming(check, value)


@given(st.one_of(st.integers(), st.integers(-(2**63), 2**63 - 1).map(np.int64)), st.integers(-5, 5))
def test_integers_pass_require_int_exactly_from_the_minimum(value: Any, minimum: int) -> None:
    if value >= minimum:
        require_int("n", value, minimum)
    else:
        with pytest.raises(ValueError, match=f"^n must be an integer >= {minimum}, got "):
            require_int("n", value, minimum)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_never_pass_require_int(value: float) -> None:
    _one_line_naming(lambda name, v: require_int(name, v, 0), value)


@given(st.text(min_size=SHOWN_CHARS * 2, max_size=SHOWN_CHARS * 20))
def test_long_text_is_cut(value: str) -> None:
    assert len(shown(value)) == SHOWN_CHARS + 3
