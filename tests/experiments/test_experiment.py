"""Experiment files: defaults, overrides, sweeps, and a one-line error for each bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import tomli_w

from experiments import ConfigError, PolicySpec, expand, load_experiment
from experiments.cli import CONFIGS
from experiments.experiment import parse
from experiments.overrides import parse_override
from policies import POLICIES, WRAPPERS
from simulator import RECORDED_METRICS, ServedModel, SimulationConfig, WorldConfig
from simulator.metrics import DAILY_METRICS

VARIANT = '\n[[variants]]\nname = "pop"\npolicy = "popularity"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def error_of(path: Path, *overrides: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_experiment(path, overrides)
    return str(caught.value).replace(str(path), "FILE")


def test_an_experiment_of_only_variants_gets_every_documented_default(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, VARIANT))
    assert experiment.name == "exp"
    assert experiment.world == WorldConfig()
    assert experiment.simulation == SimulationConfig()
    assert (experiment.clicks.model, dict(experiment.clicks.params)) == ("pbm", {"eta": 1.0})
    assert (experiment.settings.seeds, experiment.settings.final_window) == (3, 7)
    assert experiment.variants[0].models[0].policy == PolicySpec("popularity")
    assert list(experiment.points()) == [()]


def test_overrides_use_toml_values_and_bare_words_are_strings(tmp_path: Path) -> None:
    path = write(tmp_path, VARIANT)
    experiment = load_experiment(
        path,
        [
            "world.n_users=500",
            "world.segment_shares=[0.5, 0.5]",
            "world.n_segments=2",
            "simulation.serving=batch",
            "variants.pop.params.window=2.5",
        ],
    )
    assert experiment.world.n_users == 500
    assert experiment.world.segment_shares == (0.5, 0.5)
    assert experiment.simulation.serving == "batch"
    assert dict(experiment.variants[0].models[0].policy.params) == {"window": 2.5}
    assert parse_override("experiment.seeds=auto") == ("experiment.seeds", "auto")


def test_a_sweep_expands_into_the_grid_of_its_values(tmp_path: Path) -> None:
    text = (
        VARIANT + '[sweep]\n"world.n_users" = [100, 200]\n"variants.pop.params.window" = [1, 2]\n'
    )
    experiment = load_experiment(write(tmp_path, text))
    points = list(experiment.points())
    assert len(points) == 4
    at = experiment.at((("world.n_users", 200), ("variants.pop.params.window", 1)))
    assert at.world.n_users == 200
    assert dict(at.variants[0].models[0].policy.params) == {"window": 1}


def test_several_models_side_by_side_serve_the_segments_they_name(tmp_path: Path) -> None:
    text = """
[world]
n_segments = 3
[[variants]]
name = "split"
models = [
    { name = "a", policy = "popularity", segments = [0, 2], retrain_every = 2.0 },
    { name = "b", policy = "random", segments = [1] },
]
"""
    experiment = load_experiment(write(tmp_path, text))
    a, b = experiment.variants[0].models
    assert isinstance(a, ServedModel)  # the simulator's own spec, holding a policy spec
    assert a.policy == PolicySpec("popularity")
    assert (a.name, a.segments, a.retrain_every) == ("a", (0, 2), 2.0)
    assert (b.policy.name, b.segments, b.retrain_every) == ("random", (1,), None)


def test_the_resolved_document_reloads_to_the_same_experiment_and_runs(tmp_path: Path) -> None:
    original = load_experiment(CONFIGS / "quick.toml", ['sweep."world.n_users"=[200, 300]'])
    reloaded = load_experiment(write(tmp_path, tomli_w.dumps(original.resolved())))
    assert dataclasses.replace(reloaded, source=original.source) == original
    ids = [[spec.run_id for spec in expand(e, [0, 1])] for e in (original, reloaded)]
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 3 * 2 * 2


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_experiment_loads(path: Path) -> None:
    experiment = load_experiment(path)
    assert experiment.settings.description
    assert parse(experiment.resolved(), str(path)) == experiment


BAD_FILES = [
    (
        "[wrld]\nn_users = 3\n" + VARIANT,
        "FILE: [top level] unknown key 'wrld' (did you mean 'world'?)",
    ),
    (
        "[world]\nn_user = 3\n" + VARIANT,
        "FILE: [world] unknown key 'n_user' (did you mean 'n_users'?)",
    ),
    (
        '[world]\nn_users = "many"\n' + VARIANT,
        "FILE: [world] n_users must be an integer >= 1, got 'many'",
    ),
    (
        "[world]\nchurn = 1.5\n" + VARIANT,
        "FILE: [world] churn must be a probability in [0, 1], got 1.5",
    ),
    ("world = 3\n" + VARIANT, "FILE: [world] must be a table, got 3"),
    (
        '[simulation]\nserving = "offline"\n' + VARIANT,
        "FILE: [simulation] serving must be one of 'online', 'batch', got 'offline'",
    ),
    (
        "[simulation]\ndays = 5\n[experiment]\nfinal_window = 6\n" + VARIANT,
        "FILE: [experiment] final_window (6) must not exceed simulation.days (5)",
    ),
    (
        '[clicks]\nmodel = "pmb"\n' + VARIANT,
        "FILE: [clicks] model must be one of 'pbm', 'cascade', 'single_choice', "
        "'attention_argmax', got 'pmb' "
        "(did you mean 'pbm'?)",
    ),
    ('[clicks]\nmodel = "cascade"\neta = 2\n' + VARIANT, "FILE: [clicks] unknown key 'eta'"),
    ("[clicks]\neta = -1\n" + VARIANT, "FILE: [clicks] eta must be >= 0, got -1"),
    (
        "[experiment]\nseeds = 0\n" + VARIANT,
        "FILE: [experiment] seeds must be an integer >= 1, got 0",
    ),
    (
        '[experiment]\nseeds = "many"\n' + VARIANT,
        "FILE: [experiment] seeds must be an integer >= 1, got 'many'",
    ),
    (
        '[experiment]\nmetrics = ["ctr", "clicks"]\n' + VARIANT,
        "FILE: [experiment] metrics must be one of "
        + ", ".join(map(repr, (*DAILY_METRICS, *RECORDED_METRICS)))
        + ", got 'clicks'",
    ),
    (
        "[experiment.auto]\nmin_seeds = 1\n" + VARIANT,
        "FILE: [experiment.auto] min_seeds must be an integer >= 2, got 1",
    ),
    ("[world]\nn_users = 3\n", "FILE: [variants] at least one [[variants]] table is required"),
    (
        '[[variants]]\nname = "a"\npolicy = "popularty"\n',
        "FILE: [variants.a] unknown policy 'popularty' (did you mean 'popularity'?); known: "
        + ", ".join(sorted(POLICIES)),
    ),
    (
        '[[variants]]\nname = "a"\npolicy = "popularity"\nparams = { windw = 1 }\n',
        "FILE: [variants.a] policy 'popularity' has no parameter 'windw' (did you mean 'window'?); "
        "it takes: window",
    ),
    (
        '[[variants]]\nname = "a"\npolicy = "popularity"\nparams = { window = -1 }\n',
        "FILE: [variants.a] window must be > 0, got -1",
    ),
    (
        '[[variants]]\nname = "a"\npolicy = "random"\nwrappers = [{ name = "epsilon" }]\n',
        "FILE: [variants.a] unknown wrapper 'epsilon' (did you mean 'epsilon_greedy'?); known: "
        + ", ".join(sorted(WRAPPERS)),
    ),
    (
        '[[variants]]\nname = "a"\npolcy = "random"\n',
        "FILE: [variants.a] unknown key 'polcy' (did you mean 'policy'?)",
    ),
    ('[[variants]]\npolicy = "random"\n', "FILE: [variants[0]] name must be a string, got None"),
    (
        VARIANT + VARIANT,
        "FILE: [variants] variant names must be unique, got ['pop', 'pop']",
    ),
    (
        '[experiment]\nbaseline = "popp"\n' + VARIANT,
        "FILE: [experiment] baseline must name a variant, got 'popp' (did you mean 'pop'?)",
    ),
    (
        "[experiment]\nbaseline = 1\n" + VARIANT,
        "FILE: [experiment] baseline must be a string, got 1",
    ),
    (
        '[world]\nn_segments = 2\n[[variants]]\nname = "a"\n'
        'models = [{ policy = "random", segments = [0] }]\n',
        "FILE: [variants.a] served models must cover each of the 2 segments exactly once, "
        "got segments [0]",
    ),
    (
        '[[variants]]\nname = "a"\nmodels = [{ name = "m", policy = "random", window = 0 }]\n',
        "FILE: [variants.a.models[0]] m.window must be > 0, got 0",
    ),
    (
        '[[variants]]\nname = "a"\nmodels = [{ policy = "random", segments = [-1] }]\n',
        "FILE: [variants.a.models[0]] model0.segments must be an integer >= 0, got -1",
    ),
    (
        VARIANT + '[sweep]\n"world.n_user" = [100, 200]\n',
        "FILE: [sweep] world.n_user = 100: [world] unknown key 'n_user' (did you mean 'n_users'?)",
    ),
    (
        VARIANT + '[sweep]\n"world.n_users" = [100, 0]\n',
        "FILE: [sweep] world.n_users = 0: [world] n_users must be an integer >= 1, got 0",
    ),
    (
        VARIANT + '[sweep]\n"world.n_users" = 100\n',
        "FILE: [sweep] world.n_users must be a non-empty list, got 100",
    ),
    (
        VARIANT + '[sweep]\n"experiment.seeds" = [1, 2]\n',
        "FILE: [sweep] cannot sweep over 'experiment.seeds': swept keys start with world., "
        "clicks., simulation., variants. or shifts.",
    ),
    (
        VARIANT + '[sweep]\n"variants.popular.params.window" = [1, 2]\n',
        "FILE: [sweep] variants.popular.params.window = 1: variants has no element named "
        "'popular' (did you mean 'pop'?)",
    ),
    (
        "[world\nn_users = 3\n",
        "FILE: invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 7)",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_bad_file_is_one_line_naming_the_file_the_key_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    assert error_of(write(tmp_path, text)) == message


BAD_OVERRIDES = [
    ("world.n_user=5", "FILE: [--set] [world] unknown key 'n_user' (did you mean 'n_users'?)"),
    ("simulation.days=0", "FILE: [--set] [simulation] days must be an integer >= 1, got 0"),
    (
        "variants.nope.policy=random",
        "FILE: [--set variants.nope.policy] variants has no element named 'nope'",
    ),
    ("experiment.seeds=-2", "FILE: [--set] [experiment] seeds must be an integer >= 1, got -2"),
    ("days", "FILE: [--set] override must look like key=value, got 'days'"),
]


@pytest.mark.parametrize(("override", "message"), BAD_OVERRIDES)
def test_a_bad_override_names_the_override(tmp_path: Path, override: str, message: str) -> None:
    path = write(tmp_path, VARIANT)
    try:
        load_experiment(path, [override])
    except ValueError as error:
        assert str(error).replace(str(path), "FILE") == message
    else:
        pytest.fail("no error")


def test_an_unreadable_file_says_why(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    assert error_of(path) == "FILE: cannot read: No such file or directory"


SHIFT = """
[[shifts]]
kind = "covariate"
profile = "abrupt"
at = 10
arrival_shares = [0.8, 0.05, 0.05, 0.05, 0.05]
"""


def test_shifts_are_parsed_swept_and_part_of_the_run_identity(tmp_path: Path) -> None:
    text = VARIANT + SHIFT + '[sweep]\n"shifts.covariate.at" = [5, 10]\n'
    experiment = load_experiment(write(tmp_path, text))
    (shift,) = experiment.shifts
    assert (shift.name, shift.kind, shift.profile) == ("covariate", "covariate", "abrupt")
    assert shift.build().profile.weight(10) == 1.0
    runs = expand(experiment, seeds=[0])
    assert [run.shifts[0].params["at"] for run in runs] == [5, 10]
    assert len({run.run_id for run in runs}) == 2
    plain = expand(load_experiment(write(tmp_path, VARIANT)), seeds=[0])
    assert plain[0].run_id not in {run.run_id for run in runs}


@pytest.mark.parametrize(
    ("shift", "message"),
    [
        (
            '[[shifts]]\nkind = "seasonal"\nprofile = "abrupt"\nat = 1\n',
            "FILE: [shifts.seasonal] kind must be one of 'covariate', 'label', 'concept', "
            "got 'seasonal'",
        ),
        (
            '[[shifts]]\nkind = "label"\nprofile = "abrupt"\nat = 1\n',
            "FILE: [shifts.label] label shift (abrupt) needs parameter 'click_rate_factor'",
        ),
        (
            '[[shifts]]\nkind = "label"\nprofile = "gradual"\nstart = 5\nend = 2\n'
            "click_rate_factor = 2\n",
            "FILE: [shifts.label] end must be after start (5), got 2",
        ),
        (
            '[[shifts]]\nkind = "concept"\nprofile = "abrupt"\nat = 1\nangel = 1\n',
            "FILE: [shifts.concept] concept shift (abrupt) has no parameter 'angel'; "
            "it takes: at, angle",
        ),
    ],
)
def test_bad_shifts(tmp_path: Path, shift: str, message: str) -> None:
    assert error_of(write(tmp_path, VARIANT + shift)) == message
