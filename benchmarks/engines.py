"""Timing an engine against the one it replaced, on the same recorded calls.

Shared by the propensity benchmarks (`plackett_luce.py`, `thompson.py`): each records the calls
a real run makes, then times both engines on every call, alternating which goes first so that
neither always runs with warm caches, and reports medians of CPU time (steadier than wall time
on a shared machine) and the largest difference between their answers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def compare_engines(
    before: Callable[..., Any], after: Callable[..., Any], calls: Sequence[tuple], unit: str
) -> dict[str, float]:
    """Median CPU seconds per call of `before` and `after` on the same `calls` (argument tuples),
    their ratio, and the largest absolute difference of their results; `unit` names a call.
    """
    times: tuple[list[float], list[float]] = ([], [])
    difference = 0.0
    for i, args in enumerate(calls):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        results: list[Any] = [None, None]
        for which in order:
            started = time.process_time()
            results[which] = (before, after)[which](*args)
            times[which].append(time.process_time() - started)
        difference = max(difference, float(np.abs(results[0] - results[1]).max()))
    old, new = statistics.median(times[0]), statistics.median(times[1])
    return {
        f"seconds_per_{unit}_before": round(old, 5),
        f"seconds_per_{unit}_after": round(new, 5),
        "speedup": round(old / new, 2),
        "max_abs_difference": difference,
    }
