"""Recording the calls a real run makes to an engine, and timing the engine against the one it
replaced on those calls.

Shared by the propensity benchmarks (`plackett_luce.py`, `thompson.py`): each records the calls
a real run makes, then times both engines on every call, alternating which goes first so that
neither always runs with warm caches, and reports medians of CPU time (steadier than wall time
on a shared machine) and the largest difference between their answers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from types import ModuleType
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


def record_calls(
    module: ModuleType, name: str, run: Callable[[], object]
) -> tuple[list[tuple], float]:
    """The arguments (arrays copied) of every call `run()` makes to ``module.name``, and the
    wall seconds of `run`. The policy must look the engine up through the module, as the
    propensity wrappers do, for the recording to see its calls.
    """
    engine = getattr(module, name)
    calls: list[tuple] = []

    def recording(*args: Any) -> Any:
        calls.append(tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args))
        return engine(*args)

    setattr(module, name, recording)
    try:
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
    finally:
        setattr(module, name, engine)
    return calls, seconds
