"""Add the pages whose text lives elsewhere in the repository to the site, at build time.

Run by mkdocs-gen-files. The home page and getting started are sections of ``README.md``, the
experiment files guide is ``experiments/README.md`` and the notebooks are copied as committed
(mkdocs-jupyter renders their stored outputs without executing them), so each text is written
once and the site cannot fall behind it. Links between repository files are rewritten to the
site's pages; any other relative link is left alone for strict mode to reject.
"""

from __future__ import annotations

import re
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parent.parent
GETTING_STARTED = (
    "Quick start",
    "Experiments from the command line",
    "A run in Python",
    "Your own policy",
    "Notebooks",
)
"""README sections, in order, that make the getting started page."""
LINKS = {"docs/": "", "experiments/README.md": "experiments.md"}
"""README link prefix -> where that file is in the site (relative to the site's root)."""


def sections(markdown: str) -> tuple[str, dict[str, str]]:
    """The text before the first ``## `` heading, and each ``## `` section by its title."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    return parts[0], {
        title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def site_links(markdown: str) -> str:
    """`markdown` with links to repository files pointing at their pages in the site."""

    def move(match: re.Match[str]) -> str:
        target = match.group(1)
        for prefix, replacement in LINKS.items():
            if target.startswith(prefix):
                target = replacement + target.removeprefix(prefix)
                break
        return f"]({target})"

    return re.sub(r"\]\((?!https?:|#)([^)]+)\)", move, markdown)


def write(path: str, text: str, source: str) -> None:
    with mkdocs_gen_files.open(path, "w") as out:
        out.write(site_links(text))
    mkdocs_gen_files.set_edit_path(path, f"../{source}")


readme = (ROOT / "README.md").read_text()
intro, by_title = sections(readme)
missing = [title for title in GETTING_STARTED if title not in by_title]
if missing:
    raise ValueError(f"README.md has no section {missing[0]!r} for the getting started page")
write("index.md", intro, "README.md")
write(
    "getting-started.md",
    "# Getting started\n\n" + "".join(f"## {t}\n{by_title[t]}" for t in GETTING_STARTED),
    "README.md",
)
write("experiments.md", (ROOT / "experiments" / "README.md").read_text(), "experiments/README.md")
for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    with mkdocs_gen_files.open(f"notebooks/{notebook.name}", "wb") as out:
        out.write(notebook.read_bytes())
