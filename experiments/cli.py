"""The ``recloop`` command: run an experiment, rebuild a report, list the shipped experiments.

::

    recloop run CONFIG [--out DIR] [--executor serial|processes|dask|dask://HOST:PORT]
                       [--workers N] [--seeds N|auto] [--set KEY=VALUE ...] [--quiet]
    recloop report DIR
    recloop list

CONFIG is a TOML file or the name of a shipped experiment (see ``recloop list``). Exit status:
0 when every run finished, 1 when some runs failed (they are listed in the report), 2 for bad
input (one line on stderr naming the file, the key and the problem; no traceback), 130 when
interrupted (finished runs are kept: the same command resumes).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from experiments.executors import EXECUTORS, parse_executor
from experiments.experiment import Experiment, load_experiment
from experiments.parsing import ConfigError
from experiments.published import REPLICATIONS
from experiments.replication import replicate
from experiments.report import baseline_comparison
from experiments.results import ExperimentResult
from experiments.sweep import rebuild, run_experiment
from experiments.tables import summary_table

CONFIGS = Path(__file__).parent / "configs"
"""The shipped experiments."""

EXIT_OK, EXIT_FAILED_RUNS, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class UserError(Exception):
    """Bad input that is not a config file's: printed as one line, exit status 2."""


def config_path(config: str) -> Path:
    """A file path as given, or the shipped experiment of that name."""
    path = Path(config)
    shipped = CONFIGS / f"{config}.toml"
    return shipped if not path.exists() and shipped.exists() else path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recloop", description="Simulate recommender feedback loops."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run an experiment (resuming if DIR holds runs)")
    run.add_argument("config", help="a TOML file, or the name of a shipped experiment")
    run.add_argument("--out", type=Path, help="output folder (default: results/NAME)")
    run.add_argument(
        "--executor",
        default="processes",
        help=f"where runs execute: {', '.join(EXECUTORS)} (default: processes)",
    )
    run.add_argument("--workers", type=int, help="local worker count (default: all cores)")
    run.add_argument("--seeds", help='seeds per variant, or "auto" (overrides experiment.seeds)')
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key, e.g. --set world.n_users=1000 (TOML values; repeatable)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    report = commands.add_parser("report", help="rebuild tables, figures and report from DIR")
    report.add_argument("dir", type=Path)

    commands.add_parser("list", help="list the shipped experiments")
    return parser


def _print_result(result: ExperimentResult) -> None:
    settings = result.experiment.settings
    if len(result.summary):
        table = summary_table(result.summary, settings.metrics)
        print(f"\nFinal {settings.final_window} days, mean ± 95% CI half-width over seeds:")
        print(table.to_string())
    comparison = baseline_comparison(result)
    if comparison is not None:
        table = summary_table(comparison, settings.metrics, signed=True)
        print(f"\nDifference from {settings.baseline}, paired by seed, ± 95% CI half-width:")
        print(table.to_string())
    print(f"\nreport: {result.out / 'report.md' if result.out else '(not saved)'}")


def _status(result: ExperimentResult) -> int:
    if len(result.failures):
        print(
            f"recloop: {len(result.failures)} runs failed; see {result.out}/report.md",
            file=sys.stderr,
        )
        return EXIT_FAILED_RUNS
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    try:
        parse_executor(args.executor)
    except ValueError as error:
        raise UserError(str(error)) from None
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    overrides = list(args.overrides)
    if args.seeds is not None:
        overrides.append(f"experiment.seeds={args.seeds}")
    experiment = load_experiment(config_path(args.config), overrides)
    out = args.out or Path("results") / experiment.name
    start = time.perf_counter()
    if experiment.name in REPLICATIONS:
        return _replicate(experiment, out, args, start)
    try:
        result = run_experiment(
            experiment, out, args.executor, workers=args.workers, progress=not args.quiet
        )
    except KeyboardInterrupt:
        print(
            f"\nrecloop: interrupted; finished runs are saved in {out}: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    elapsed = time.perf_counter() - start
    print(
        f"{experiment.name}: {len(result.computed)} runs computed, {len(result.skipped)} "
        f"already done, {len(result.failures)} failed, in {elapsed:.0f} s ({args.executor})"
    )
    _print_result(result)
    return _status(result)


def _replicate(experiment: Experiment, out: Path, args: argparse.Namespace, start: float) -> int:
    """A replication (`experiments.replication`): its runs, then the published-vs-recloop
    table in ``out/report.md``."""
    result = replicate(experiment, REPLICATIONS[experiment.name], out, args.executor, args.workers)
    elapsed = time.perf_counter() - start
    print(f"{experiment.name}: {len(result.outcomes)} runs in {elapsed:.0f} s ({args.executor})")
    print(result.table.to_string(index=False))
    print(f"\nreport: {out / 'report.md'}")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: not a folder")
    result = rebuild(args.dir)
    if result.missing:
        print(f"recloop: {len(result.missing)} runs never finished; the report leaves them out")
    _print_result(result)
    return _status(result)


def _list() -> int:
    for path in sorted(CONFIGS.glob("*.toml")):
        description = load_experiment(path).settings.description.strip()
        print(f"{path.stem:<20} {description.splitlines()[0] if description else ''}")
    return EXIT_OK


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a killed job, a closed terminal) stops a sweep like Ctrl-C: workers are stopped
    and finished runs kept."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "report":
            return _report(args)
        return _list()
    except (ConfigError, UserError) as error:
        print(f"recloop: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        print(f"recloop: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
