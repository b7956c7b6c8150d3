"""Shared fixtures of the experiment tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

TINY = """
[experiment]
seeds = 2
final_window = 2

[world]
n_users = 100
n_items = 30
n_segments = 1

[simulation]
days = 4

[[variants]]
name = "popular"
policy = "popularity"
"""


@pytest.fixture
def tiny_experiment(tmp_path: Path) -> Callable[[str], Path]:
    """Writes ``tiny.toml``: popularity on a 100-user world, 2 seeds of 4 days (a second or so
    a run), with `extra` TOML appended (more variants), and returns its path.
    """

    def write(extra: str = "") -> Path:
        path = tmp_path / "tiny.toml"
        path.write_text(TINY + extra)
        return path

    return write
