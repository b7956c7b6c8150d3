"""recloop installed from its wheel, not the checkout: ``python -m build --wheel`` on a copy of the
sources, the wheel installed into a fresh venv, and there ``recloop --version``, ``recloop list``,
``recloop run quick`` and the README's Python snippet (shrunk) work.

The fresh venv gets the dependencies by a ``.pth`` line naming the test interpreter's
site-packages (no index needed); a plain path line does not run that folder's own ``.pth``
files, so the editable install of the checkout stays invisible, which the test checks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "policies", "experiments")
TINY = [
    "world.n_users=60",
    "world.n_items=30",
    "simulation.days=3",
    "experiment.seeds=1",
    'experiment.metrics=["utility"]',
]


IMPORTED = """
import importlib.metadata, experiments, policies, simulator
print(experiments.__file__, importlib.metadata.version("recloop"))
"""
"""Where the packages are imported from, and the installed version."""


def _sources(into: Path) -> Path:
    """A copy of what a wheel is built from, so the build leaves the checkout untouched."""
    into.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, into / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, into / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return into


def _run(args: list[str | Path], cwd: Path) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _readme_snippet() -> str:
    """The README's "A run in Python" block, shrunk to a tiny world and two days."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"## A run in Python\s+```python\n(.*?)```", readme, re.S)
    assert match is not None, "README.md lost its Python snippet"
    snippet = match.group(1)
    for full, small in [
        ("WorldConfig()", "WorldConfig(n_users=60, n_items=30)"),
        ("SimulationConfig(days=30)", "SimulationConfig(days=2)"),
    ]:
        assert full in snippet, f"README snippet changed: no {full}"
        snippet = snippet.replace(full, small)
    return snippet + "\nassert len(result.metrics) and len(result.log.to_pandas())\n"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    sources = _sources(root / "src")
    # no isolation: the build backend comes from the test environment, no index needed
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", root], sources)
    (built,) = root.glob("recloop-*.whl")
    return built


def test_the_wheel_holds_every_module_and_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        source = ROOT / package
        expected = {p.relative_to(ROOT).as_posix() for p in source.rglob("*.py")}
        expected |= {f"{package}/py.typed"}
        assert expected <= names, sorted(expected - names)
    configs = {f"experiments/configs/{p.name}" for p in (ROOT / "experiments/configs").glob("*")}
    assert configs and configs <= names


def test_the_wheel_works_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    python, recloop = venv / "bin" / "python", venv / "bin" / "recloop"
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path
        ).strip()
    )
    (site / "test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--no-index",
            wheel,
        ],
        tmp_path,
    )

    work = tmp_path / "work"
    work.mkdir()
    where, version = _run([python, "-c", IMPORTED], work).split()
    assert Path(where).is_relative_to(venv), where
    assert _run([recloop, "--version"], work).strip() == f"recloop {version}"
    listed = _run([recloop, "list"], work).split()
    assert {"quick", "degenerate_loop", "fixes"} <= set(listed)

    sets = [arg for key in TINY for arg in ("--set", key)]
    _run([recloop, "run", "quick", "--out", "out", "--executor", "serial", "--quiet", *sets], work)
    assert (work / "out" / "report.md").exists()
    assert len(list((work / "out" / "runs").glob("*.parquet"))) == 3

    (work / "snippet.py").write_text(_readme_snippet(), encoding="utf-8")
    _run([python, "snippet.py"], work)
    assert (work / "log.parquet").exists()
