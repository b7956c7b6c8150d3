"""Load-time checks (issue 13): what a run would refuse, sizes no machine holds, wrong types,
NaN and infinity, deep nesting, long values and unsafe names are each one line at load time,
at every sweep point, before any file is written."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from experiments import ConfigError, load_experiment, run_experiment
from experiments.parsing import MAX_DEPTH, SHOWN_CHARS
from experiments.resources import MAX_RUNS, machine_memory, peak_memory
from simulator import SimulationConfig, WorldConfig

VARIANT = '\n[[variants]]\nname = "pop"\npolicy = "popularity"\n'
COVARIATE = (
    '[[shifts]]\nkind = "covariate"\nprofile = "abrupt"\nat = 3\narrival_shares = [0.5, 0.5]\n'
)


def error_of(tmp_path: Path, text: str, *overrides: str) -> str:
    path = tmp_path / "exp.toml"
    path.write_text(text + VARIANT)
    with pytest.raises(ConfigError) as caught:
        load_experiment(path, overrides)
    message = str(caught.value).replace(str(path), "FILE")
    assert "\n" not in message
    return message


CASES = [
    # what Simulation would refuse when the run starts (simulator.check_setup)
    (
        "",
        ["world.n_items=5"],
        "FILE: [--set] [variants.pop] slate_size must not exceed the live catalog (5 items), "
        "got 10",
    ),
    (
        "[world]\nn_items = 100\n",
        ['sweep."simulation.slate_size"=[5, 200]'],
        "FILE: [sweep] simulation.slate_size = 200: [variants.pop] slate_size must not "
        "exceed the live catalog (100 items), got 200",
    ),
    (
        COVARIATE,
        [],
        "FILE: [shifts.covariate] arrival_shares must have one share per segment (5), "
        "got (0.5, 0.5)",
    ),
    (
        COVARIATE + "[world]\nn_segments = 2\n",
        ['sweep."world.n_segments"=[2, 3]'],
        "FILE: [sweep] world.n_segments = 3: [shifts.covariate] arrival_shares must have "
        "one share per segment (3), got (0.5, 0.5)",
    ),
    (
        '[world]\ndim = 1\n[[shifts]]\nkind = "concept"\nprofile = "abrupt"\nat = 1\n',
        [],
        "FILE: [shifts.concept] concept drift rotates in a plane: it needs dim >= 2, got 1",
    ),
    (
        '[world]\nn_segments = 2\n[[variants]]\nname = "split"\nmodels = [\n'
        '  { name = "a", policy = "random", segments = [0] },\n'
        '  { name = "b", policy = "random", segments = [1] },\n]\n',
        ['sweep."world.n_segments"=[2, 3]'],
        "FILE: [sweep] world.n_segments = 3: [variants.split] served models must cover each of "
        "the 3 segments exactly once, got segments [0, 1]",
    ),
    (
        "",
        ["world.preference_drift=[0.1, 0.2]"],
        "FILE: [--set] [world] preference_drift must be a number or a list of 5 (one per "
        "segment), got (0.1, 0.2)",
    ),
    (
        "",
        ["world.label_delay=10.0"],
        "FILE: [--set] [variants.pop] window must be at least the mean label delay of the "
        "segments it trains on (10.0 days), got 7.0",
    ),
    (
        "",
        ['sweep."world.n_segments"=[5, 1]', "world.segment_shares=[0.2, 0.2, 0.2, 0.2, 0.2]"],
        "FILE: [sweep] world.n_segments = 1: [world] segment_shares must be a number or "
        "a list of 1 (one per segment), got [0.2, 0.2, 0.2, 0.2, 0.2]",
    ),
    (
        "",
        ["world.n_topics=40000"],
        "FILE: [--set] [world] n_topics must be <= 32767, got 40000",
    ),
    (
        "",
        ["world.activity_buckets=128"],
        "FILE: [--set] [world] activity_buckets must be <= 127, got 128",
    ),
    (
        '[[variants]]\nname = "pl"\npolicy = "popularity"\n'
        'wrappers = [{ name = "plackett_luce", top_m = 12 }]\n',
        ['sweep."simulation.slate_size"=[10, 15]'],
        "FILE: [sweep] simulation.slate_size = 15: [variants.pl] top_m must be at least the "
        "slate size 15, got 12",
    ),
    (
        '[[variants]]\nname = "gbm"\npolicy = "lightgbm"\nparams = { serve_position = 11 }\n',
        [],
        "FILE: [variants.gbm] serve_position must be a position of the log's slates (1..10), "
        "got 11",
    ),
    # sizes: the run count is machine-independent
    (
        "",
        ["experiment.seeds=1000000000000"],
        f"FILE: [--set] the experiment plans 1000000000000 runs (variants x sweep points x "
        f"seeds), more than {MAX_RUNS}",
    ),
    (
        "",
        ['experiment.seeds="auto"', "experiment.auto.max_seeds=1000000"],
        f"FILE: [--set] the experiment plans 1000000 runs (variants x sweep points x seeds), "
        f"more than {MAX_RUNS}",
    ),
    # a list or a table where a name is expected
    (
        '[clicks]\nmodel = ["pbm"]\n',
        [],
        "FILE: [clicks] model must be one of 'pbm', 'cascade', 'single_choice', "
        "'attention_argmax', got ['pbm'] (did you mean 'pbm'?)",
    ),
    (
        '[[variants]]\nname = "r"\npolicy = ["random"]\n',
        [],
        "FILE: [variants.r] policy (the name of a policy) is required, got ['random']",
    ),
    (
        '[[variants]]\nname = "r"\npolicy = "random"\nwrappers = [{ name = ["epsilon_greedy"] }]\n',
        [],
        "FILE: [variants.r] each wrapper needs a name (a string), got {'name': ['epsilon_greedy']}",
    ),
    (
        '[[shifts]]\nkind = ["label"]\nprofile = "abrupt"\nat = 1\nclick_rate_factor = 2\n',
        [],
        "FILE: [shifts.['label']] kind and profile are required",
    ),
    # wrong types that a number check alone would let through, or fail on with a TypeError
    ("", ["world.affinity=[1, 2]"], "FILE: [--set] [world] affinity must be a number, got (1, 2)"),
    ("", ["clicks.eta=[1]"], "FILE: [--set] [clicks] eta must be a number, got [1]"),
    (
        "",
        ["variants.pop.params.window={ a = 1 }"],
        "FILE: [--set] [variants.pop] window must be a number, got {'a': 1}",
    ),
    (
        "",
        ["world.n_users={ a = 1 }"],
        "FILE: [--set] [world] n_users must be an integer >= 1, got {'a': 1}",
    ),
    (
        "",
        ["simulation.days=2.5"],
        "FILE: [--set] [simulation] days must be an integer >= 1, got 2.5",
    ),
    (
        COVARIATE.replace("at = 3", 'at = "soon"').replace("[0.5, 0.5]", "[0.5, 0.5, 0, 0, 0]"),
        [],
        "FILE: [shifts.covariate] at must be a number, got 'soon'",
    ),
    # NaN and infinity: TOML literals and --set values alike
    ("[world]\naffinity = nan\n", [], "FILE: [world] affinity must be a finite number, got nan"),
    ("", ["world.affinity=inf"], "FILE: [--set] [world] affinity must be a finite number, got inf"),
    (
        "[world]\nmean_sessions_per_day = inf\n",
        [],
        "FILE: [world] mean_sessions_per_day must be a finite number, got inf",
    ),
    (
        "",
        ["variants.pop.params.window=nan"],
        "FILE: [--set] [variants.pop] params.window must be a finite number, got nan",
    ),
    (
        "",
        ['sweep."simulation.retrain_every"=[1.0, -inf]'],
        "FILE: [--set] [sweep] simulation.retrain_every must be a finite number, got -inf",
    ),
    ("", ["clicks.eta=-nan"], "FILE: [--set] [clicks] eta must be a finite number, got nan"),
    # deep nesting
    (
        "x = " + "[" * 5000 + "]" * 5000 + "\n",
        [],
        "FILE: invalid TOML: nested too deeply",
    ),
    ("", ["world.n_users=" + "[" * 5000 + "]" * 5000], None),
    ("", ["world.n_users=" + "[" * 40 + "]" * 40], f"nested deeper than {MAX_DEPTH}"),
    # names that would write outside the results root
    *(
        (
            "",
            [f"experiment.name={name!r}".replace("'", '"')],
            "name must be a plain name (not empty, no path separators, not '.' or '..', no "
            f"control characters), got {name!r}",
        )
        for name in ("../../x", "/abs/dir", "a/b", "..", "", "a\\\\b", "tab\\there", "C:x")
    ),
    # override syntax
    ("", ["world.n_users"], "FILE: [--set] override must look like key=value, got 'world.n_users'"),
]


@pytest.mark.parametrize(("text", "overrides", "message"), CASES)
def test_each_bad_input_is_one_line_at_load_time(
    tmp_path: Path, text: str, overrides: list[str], message: str | None
) -> None:
    error = error_of(tmp_path, text, *overrides)
    if message is None or not message.startswith("FILE"):
        assert (message or "nested too deeply") in error
    else:
        assert error == message


@pytest.mark.parametrize(
    "override",
    [
        "world.n_users=1000000000000",
        "simulation.days=1000000000000000",
        "world.n_items=10000000000",
    ],
)
def test_a_run_the_machine_cannot_hold_is_refused_with_the_estimate(
    tmp_path: Path, override: str
) -> None:
    error = error_of(tmp_path, "", override)
    key, value = override.split("=")
    assert re.fullmatch(
        rf"FILE: \[--set\] a run needs about [\d.e+]+ [KMGTP]?B of memory \(.*"
        rf"{key.split('.')[1]}={value}.*\), more than this machine's [\d.]+ [KMGTP]?B",
        error,
    ), error


def test_the_memory_bound_is_this_machine_and_the_standard_world_fits() -> None:
    assert machine_memory() > 2**30
    assert peak_memory(WorldConfig(), SimulationConfig()) < machine_memory()
    assert peak_memory(WorldConfig(n_users=10**12), SimulationConfig()) > machine_memory()


def test_a_five_megabyte_value_is_cut(tmp_path: Path) -> None:
    error = error_of(tmp_path, "", "world.n_users=" + "x" * 5_000_000)
    assert (
        error
        == (
            "FILE: [--set] [world] n_users must be an integer >= 1, got '" + "x" * (SHOWN_CHARS - 1)
        )
        + "..."
    )
    long_list = "[" + ", ".join(["0.1"] * 100_000) + "]"
    assert len(error_of(tmp_path, "", f"world.preference_drift={long_list}")) < 300


def test_a_long_path_is_kept_and_a_long_variant_name_cut(tmp_path: Path) -> None:
    folder = tmp_path / ("d" * 150)
    folder.mkdir()
    path = folder / "exp\nline.toml"
    name = "v" * 1000
    path.write_text(
        f'[experiment]\nname = "e"\n[world]\nn_items = 5\n'
        f'[[variants]]\nname = "{name}"\npolicy = "random"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    shown = str(path).replace("\n", "\\n")
    assert str(caught.value) == (
        f"{shown}: [variants.{'v' * (SHOWN_CHARS - len('variants.'))}...] slate_size must not "
        "exceed the live catalog (5 items), got 10"
    )


def test_infinity_is_a_window_over_all_history(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text("[simulation]\nwindow = inf\n" + VARIANT)
    experiment = load_experiment(
        path, ["variants.pop.params.window=inf", 'sweep."simulation.window"=[7.0, inf]']
    )
    assert experiment.simulation.window == math.inf
    assert experiment.at((("simulation.window", math.inf),)).simulation.window == math.inf


def test_nothing_is_written_for_a_bad_sweep_point(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text('[world]\nn_items = 50\n[sweep]\n"simulation.slate_size" = [5, 60]\n' + VARIANT)
    with pytest.raises(ConfigError, match="slate_size = 60"):
        run_experiment(path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_one_day_runs_end_to_end_with_a_report(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(
        "[experiment]\nseeds = 2\nfinal_window = 1\n[world]\nn_users = 100\nn_items = 40\n"
        "n_segments = 2\n[simulation]\ndays = 1\n"
        '[[shifts]]\nkind = "label"\nprofile = "abrupt"\nat = 0\nclick_rate_factor = 2.0\n'
        + VARIANT
    )
    result = run_experiment(path, tmp_path / "out", progress=False)
    assert len(result.failures) == 0
    assert set(result.metrics.day) == {0}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| pop |" in report
