"""The documentation site builds in strict mode, and strict mode rejects what it should.

One full build (about half a minute: the notebooks are rendered, not run) checks the pages
exist and that the experiment file reference is generated from the code; two tiny builds with
the site's own settings check that a broken link and a missing API reference fail it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")
pytest.importorskip("mkdocs_jupyter")


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    env["DISABLE_MKDOCS_2_WARNING"] = "true"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
    return subprocess.run(
        [*command, "-d", str(site)], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_site_builds_with_every_page(tmp_path: Path) -> None:
    done = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    site = tmp_path / "site"
    pages = [
        "index.html",
        "getting-started/index.html",
        "design/index.html",
        "fixes/index.html",
        "replications/index.html",
        "experiments/index.html",
        "reference/experiment-file/index.html",
        "notebooks/01_degenerate_loop/index.html",
        "api/simulator/index.html",
        "api/policies/index.html",
        "api/experiments/index.html",
    ]
    assert [page for page in pages if not (site / page).is_file()] == []
    reference = (site / "reference/experiment-file/index.html").read_text()
    for generated in ("n_users", "epsilon_greedy", "retrain_every", "single_choice", "eta"):
        assert generated in reference
    assert "simulate" in (site / "api/simulator/index.html").read_text()
    # README links to docs/fixes.md: in the site that is the fixes page.
    assert 'href="../fixes/"' in (site / "getting-started/index.html").read_text()


@pytest.mark.parametrize(
    ("page", "complaint"),
    [
        ("[the loop](no_such_page.md)", "no_such_page.md"),
        ("::: simulator.NoSuchName", "simulator.NoSuchName"),
    ],
)
def test_strict_build_rejects(tmp_path: Path, page: str, complaint: str) -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    plugins = [p for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(f"# A page\n\n{page}\n")
    config |= {"docs_dir": str(docs), "plugins": plugins, "nav": ["index.md"]}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    done = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert complaint in done.stderr
