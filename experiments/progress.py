"""How a sweep tells its progress: a bar on a terminal or in a notebook, a plain line per
finished run in logs and pipes, nothing when quiet.

A bar redraws itself with carriage returns, which a log file or a CI console keeps as one
unreadable line; so ``recloop`` asks for ``"lines"`` when stderr is not a terminal, one
self-contained line per run (``recloop: [3/15] popular seed 2 done (41 s elapsed)``), written
and flushed as the run finishes, so that ``tail -f`` of a long sweep's log shows where it is.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Literal

from tqdm.auto import tqdm

from experiments.run import RunSpec, point_text

Progress = bool | Literal["lines"]
"""True: a bar (`tqdm.auto`: a widget in a notebook); ``"lines"``: a line per run; False: none."""


def check_progress(progress: Progress) -> Progress:
    """`progress` if it is one of the accepted values, else a one-line `ValueError`."""
    if type(progress) is not bool and progress != "lines":  # not 1, 0.0 or numpy's True
        raise ValueError(f'progress must be True, False or "lines", got {progress!r}')
    return progress


def describe(spec: RunSpec) -> str:
    """A run as people name it: its variant, seed and sweep point."""
    at = point_text(spec.point)
    return f"{spec.variant.name} seed {spec.seed}" + (f" ({at})" if at else "")


class SweepProgress:
    """The progress of `total` planned runs (more may be planned on the way, `plan`)."""

    def __init__(self, name: str, total: int, progress: Progress) -> None:
        self.progress = check_progress(progress)
        self.total = total
        self.counts: Counter[str] = Counter()
        self.start = time.perf_counter()
        self.bar = tqdm(total=total, desc=name, unit="run", disable=progress is not True)

    def __enter__(self) -> SweepProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def plan(self, n_more: int) -> None:
        """Count `n_more` more runs in the total."""
        self.total += n_more
        self.bar.total = self.total
        self.bar.refresh()

    def finished(
        self, spec: RunSpec, status: Literal["computed", "skipped", "failed"], error: str = ""
    ) -> None:
        """Tell that `spec` is in hand: computed now, found already done, or failed (`error`)."""
        self.counts[status] += 1
        self.bar.update(1)
        self.bar.set_postfix(
            computed=self.counts["computed"],
            skipped=self.counts["skipped"],
            failed=self.counts["failed"],
        )
        if self.progress == "lines":
            elapsed = time.perf_counter() - self.start
            outcome = {
                "computed": f"done ({elapsed:.0f} s elapsed)",
                "skipped": "already done",
                "failed": f"failed: {error}",
            }[status]
            n = sum(self.counts.values())
            print(f"recloop: [{n}/{self.total}] {describe(spec)} {outcome}", file=sys.stderr)
            sys.stderr.flush()
