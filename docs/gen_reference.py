"""Write the experiment file reference (``reference/experiment-file.md``) at build time.

Run by mkdocs-gen-files. Every key, type and default is read from the dataclasses and
registries the loader itself uses (`experiments.schema`, `simulator.WorldConfig`,
`simulator.SimulationConfig`, `simulator.CLICK_MODELS`, `simulator.shifts`,
`policies.POLICIES` and `policies.WRAPPERS`), and every description from their docstrings
(read statically with griffe, which also sees attribute docstrings), so the page cannot drift
from the code. Run it directly to print the page.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import griffe

from experiments.schema import Settings
from policies import POLICIES, WRAPPERS
from simulator import CLICK_MODELS, MetricSettings, ServedModel, SimulationConfig, WorldConfig
from simulator.shifts import PROFILES, SHIFT_KINDS

PAGE = "reference/experiment-file.md"
PACKAGES = ("simulator", "policies", "experiments")
_loaded: dict[str, griffe.Object | griffe.Alias] = {}


def _static(cls: Any) -> griffe.Object | griffe.Alias | None:
    """`cls` as griffe reads it from source: attribute docstrings survive there."""
    package = cls.__module__.split(".")[0]
    if package not in PACKAGES:
        return None
    if package not in _loaded:
        _loaded[package] = griffe.load(package, docstring_parser="numpy")
    path = f"{cls.__module__}.{cls.__qualname__}"
    try:
        return _loaded[package][path.removeprefix(package + ".")]
    except KeyError:
        return None


def _one_line(text: str) -> str:
    """`text` on one line for a table cell, Sphinx roles (``:class:`x```) as plain code."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return " ".join(text.split()).replace("|", "\\|")


def summary(cls: Any) -> str:
    """The first paragraph of `cls`'s docstring, on one line."""
    doc = inspect.getdoc(cls) or ""
    return _one_line(doc.split("\n\n")[0])


def descriptions(*classes: Any) -> dict[str, str]:
    """Parameter name -> description, from the docstrings' Parameters sections and attribute
    docstrings of `classes` and their base classes (a constructor forwarding ``**options``
    takes its base's parameters; a subclass's own text and an attribute docstring win)."""
    found: dict[str, str] = {}
    for cls in classes:
        for klass in reversed(getattr(cls, "__mro__", [cls])):
            found |= _own_descriptions(klass)
    return found


def _own_descriptions(cls: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    obj = _static(cls)
    if obj is None:
        return found
    for owner in [obj, *(m for m in [obj.members.get("__init__")] if m is not None)]:
        if owner.docstring is None:
            continue
        # Prose after a Parameters section reads as more parameters: the API pages report
        # such docstrings, this page only looks up names it already has.
        parsed = owner.docstring.parse("numpy", warnings=False)
        for section in parsed:
            if section.kind is griffe.DocstringSectionKind.parameters:
                for param in section.value:
                    found[param.name] = _one_line(param.description)
    for name, member in obj.members.items():
        if member.is_attribute and member.docstring is not None:
            found[name] = _one_line(member.docstring.value)
    return found


def _value(value: Any) -> str:
    if value is None:
        return "`None`"
    if isinstance(value, float) and math.isinf(value):
        return "`inf`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value!r}`"


def _type(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return f"`{text}`".replace("|", "\\|") if text else ""


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    if not rows:
        return ["No parameters.", ""]
    lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    lines += [f"| `{key}` | {kind} | {default} | {text} |" for key, kind, default, text in rows]
    return [*lines, ""]


def dataclass_rows(cls: type, prefix: str = "") -> tuple[list, list[tuple[str, type]]]:
    """One row per field of `cls`, and the nested dataclass fields (their own tables)."""
    text = descriptions(cls)
    rows, nested = [], []
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = "required"
        key = prefix + f.name
        if dataclasses.is_dataclass(default):
            nested.append((key, type(default)))
            shown = "see below"
        else:
            shown = "required" if default == "required" else _value(default)
        rows.append((key, _type(f.type), shown, text.get(f.name, "")))
    return rows, nested


def dataclass_section(title: str, cls: type, intro: str = "") -> Iterator[str]:
    """A heading, `cls`'s summary, its fields, then each nested dataclass's fields."""
    yield f"## {title}"
    yield ""
    yield f"{intro}From `{cls.__module__}.{cls.__qualname__}`: {summary(cls)}"
    yield ""
    rows, nested = dataclass_rows(cls)
    yield from _table(rows)
    for key, inner in nested:
        yield f"### `[{title.strip('`[]')}.{key}]`"
        yield ""
        yield f"From `{inner.__module__}.{inner.__qualname__}`: {summary(inner)}"
        yield ""
        yield from _table(dataclass_rows(inner)[0])


def parameter_rows(
    parameters: list[inspect.Parameter], *classes: Any
) -> list[tuple[str, str, str, str]]:
    text = descriptions(*classes)
    return [
        (
            p.name,
            _type(p.annotation),
            "required" if p.default is p.empty else _value(p.default),
            text.get(p.name, ""),
        )
        for p in parameters
    ]


def _built(entry: Any) -> list[Any]:
    """The classes a registration builds: its own and its member's (an ensemble's model)."""
    member = getattr(entry, "member", None)
    return [getattr(entry, "cls", entry), *(_built(member[1]) if member else [])]


def registry_section(registry: dict[str, Callable[..., Any]]) -> Iterator[str]:
    """One subsection per registered name: its class, summary and user-set parameters."""
    for name in sorted(registry):
        entry = registry[name]
        cls = getattr(entry, "cls", entry)
        parameters = list(inspect.signature(entry).parameters.values())
        own = [p for p in parameters if p.kind is not inspect.Parameter.POSITIONAL_ONLY]
        yield f"### `{name}`"
        yield ""
        yield f"`{cls.__module__}.{cls.__qualname__}`: {summary(cls)}"
        yield ""
        yield from _table(parameter_rows(own, *_built(entry)))


def clicks_section() -> Iterator[str]:
    yield "## `[clicks]`"
    yield ""
    yield (
        "`model` is a key of `simulator.CLICK_MODELS`; the other keys are that model's "
        "constructor arguments."
    )
    yield ""
    for name, cls in CLICK_MODELS.items():
        yield f'### `model = "{name}"`'
        yield ""
        yield f"`{cls.__module__}.{cls.__qualname__}`: {summary(cls)}"
        yield ""
        parameters = list(inspect.signature(cls).parameters.values())
        yield from _table(parameter_rows(parameters, cls))


def shifts_section() -> Iterator[str]:
    yield "## `[[shifts]]`"
    yield ""
    yield (
        "Each table has `kind` (one of "
        + ", ".join(f'`"{k}"`' for k in SHIFT_KINDS)
        + "), `profile` (one of "
        + ", ".join(f'`"{p}"`' for p in PROFILES)
        + "), an optional `name` (default: the kind), and the parameters of both."
    )
    yield ""
    for label, table in (("kind", SHIFT_KINDS), ("profile", PROFILES)):
        for name, cls in table.items():
            yield f'### `{label} = "{name}"`'
            yield ""
            yield f"`{cls.__module__}.{cls.__qualname__}`: {summary(cls)}"
            yield ""
            rows = [row for row in dataclass_rows(cls)[0] if row[0] != "profile"]
            yield from _table(rows)


def variants_section() -> Iterator[str]:
    yield "## `[[variants]]`"
    yield ""
    yield (
        "Each variant has a `name` and either one model, written flat (`policy`, a key of "
        "[policies](#policies); `params`, that policy's parameters; `wrappers`, a list of "
        "`{name = ..., ...}` tables from [wrappers](#wrappers), the first innermost), or "
        "`models = [{...}, ...]`, each with those keys and the fields below."
    )
    yield ""
    rows = [row for row in dataclass_rows(ServedModel)[0] if row[0] != "policy"]
    yield from _table(rows)
    yield "### Policies"
    yield ""
    yield from (line.replace("### ", "#### ", 1) for line in registry_section(POLICIES))
    yield "### Wrappers"
    yield ""
    yield from (line.replace("### ", "#### ", 1) for line in registry_section(WRAPPERS))


def page() -> str:
    """The whole reference page."""
    lines = [
        "# Experiment file reference",
        "",
        "Generated at build time from the dataclasses and registries the experiment loader "
        "uses (`docs/gen_reference.py`), so every key, type and default here is the code's. "
        "For a walk through a file, see the [experiment files guide](../experiments.md).",
        "",
        *dataclass_section("`[experiment]`", Settings),
        *dataclass_section("`[world]`", WorldConfig),
        *clicks_section(),
        *dataclass_section("`[simulation]`", SimulationConfig),
        *variants_section(),
        *shifts_section(),
        "## `[sweep]`",
        "",
        '`"section.key" = [value, ...]`: a grid over any key above except `[experiment]`; a '
        "variant, model or wrapper is selected by its name, as in "
        '`"variants.popular.params.window"`.',
        "",
        *dataclass_section(
            "Metric settings (Python only)",
            MetricSettings,
            "Not read from experiment files: pass `metric_settings=` to the simulation. ",
        ),
    ]
    return "\n".join(lines)


def write() -> None:
    """Add the page to the site being built."""
    import mkdocs_gen_files

    with mkdocs_gen_files.open(PAGE, "w") as out:
        out.write(page())
    mkdocs_gen_files.set_edit_path(PAGE, "gen_reference.py")


# mkdocs-gen-files runs this file with runpy under another name; run directly, it prints.
if __name__ == "__main__":
    print(page())
else:
    write()
