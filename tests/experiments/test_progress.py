"""The progress setting: a bar, lines or nothing, and nothing that merely looks like one."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.progress import check_progress


@pytest.mark.parametrize("value", [True, False, "lines"])
def test_the_three_settings_are_accepted_as_given(value: bool | str) -> None:
    assert check_progress(value) is value


@pytest.mark.parametrize("value", [1, 0, 0.0, np.True_, "bar", None])
def test_values_that_only_compare_equal_to_a_setting_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r'^progress must be True, False or "lines", got '):
        check_progress(value)  # type: ignore[arg-type]
