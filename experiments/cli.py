"""The ``recloop`` command: run an experiment, rebuild a report, list the shipped experiments.

::

    recloop run CONFIG [--out DIR] [--executor serial|processes|dask|dask://HOST:PORT]
                       [--workers N] [--seeds N|auto] [--set KEY=VALUE ...] [--quiet]
                       [--track mlflow]
    recloop report DIR
    recloop list
    recloop --version

CONFIG is a TOML file or the name of a shipped experiment (see ``recloop list``). Exit status:
0 when every run finished, 1 when some runs failed (they are listed in the report), 2 for bad
input (one line on stderr naming the file, the key and the problem; no traceback, and no folder
written), 3 when the Dask cluster was lost mid-sweep, 70 for an internal error (one line saying
which log file holds the traceback), 130 when interrupted. After 3 and 130, finished runs are
kept: the same command resumes. Progress is a bar on a terminal, elsewhere (a log, a pipe) a
line per finished run; --quiet shows none.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from experiments.cluster_lost import ClusterLost
from experiments.executors import EXECUTORS, open_executor, parse_executor
from experiments.experiment import Experiment, load_experiment
from experiments.interrupts import handling_signals
from experiments.parsing import ConfigError
from experiments.progress import Progress
from experiments.published import REPLICATIONS
from experiments.replication import (
    ReplicationResult,
    RunsFailed,
    rebuild_replication,
    replicate,
)
from experiments.report import baseline_comparison
from experiments.results import ExperimentResult
from experiments.run import code_version
from experiments.store import FolderBusy, NotResults, check_folder
from experiments.sweep import rebuild, run_experiment
from experiments.tables import summary_table
from experiments.tracking import TRACKERS, check_tracker
from simulator.validation import cut, shown

CONFIGS = Path(__file__).parent / "configs"
"""The shipped experiments."""

EXIT_OK, EXIT_FAILED_RUNS, EXIT_BAD_INPUT, EXIT_CLUSTER_LOST = 0, 1, 2, 3
EXIT_INTERNAL, EXIT_INTERRUPTED = 70, 130


class UserError(Exception):
    """Bad input that is not a config file's: printed as one line, exit status 2."""


USER_ERRORS = (ConfigError, UserError, FolderBusy, NotResults, OSError)
"""Errors of the input or the environment, told in one line; anything else is a bug of ours."""


def config_path(config: str) -> Path:
    """A file path as given, or the shipped experiment of that name."""
    path = Path(config)
    shipped = CONFIGS / f"{config}.toml"
    return shipped if not path.exists() and shipped.exists() else path


class _Parser(argparse.ArgumentParser):
    """Command-line mistakes are bad input like any other: one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"recloop: error: {message} (see {self.prog} --help)\n")


def _folder(text: str) -> Path:
    """A folder argument; an empty one (an unset shell variable) would mean the current folder."""
    if not text:
        raise argparse.ArgumentTypeError("must name a folder, got ''")
    return Path(text)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recloop", description="Simulate recommender feedback loops.")
    parser.add_argument("--version", action="version", version=f"recloop {code_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run an experiment (resuming if DIR holds runs)")
    run.add_argument("config", help="a TOML file, or the name of a shipped experiment")
    run.add_argument("--out", type=_folder, help="output folder (default: results/NAME)")
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
    run.add_argument("--quiet", action="store_true", help="no progress bar or lines")
    run.add_argument("--track", choices=TRACKERS, help="also log runs and outputs to MLflow")

    report = commands.add_parser("report", help="rebuild tables, figures and report from DIR")
    report.add_argument("dir", type=_folder)

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


def _require_utf8(*paths: Path | str | None) -> None:
    """Paths are echoed in messages and written into reports, which are UTF-8."""
    for path in paths:
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            raw = os.fsencode(str(path))
            raise UserError(f"{shown(raw)}: path is not valid UTF-8; rename it") from None


def _prepare_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UserError("the dask executors need Dask: pip install 'recloop[dask]'") from None
    # Importing distributed configured its loggers. A lost scheduler is told in one line
    # (`ClusterLost`), not in the client's reconnection tracebacks.
    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)


def _progress(args: argparse.Namespace) -> Progress:
    """Bars on a terminal; logs and pipes get a line per run, never carriage-return frames."""
    if args.quiet:
        return False
    return True if sys.stderr.isatty() else "lines"


def _run(args: argparse.Namespace) -> int:
    _require_utf8(args.config, args.out)
    try:
        kind, _ = parse_executor(args.executor)
        check_tracker(args.track)
    except ValueError as error:
        raise UserError(str(error)) from None
    if kind == "dask":
        _prepare_dask()
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    path = config_path(args.config)
    for override in args.overrides:
        if not override.partition("=")[0].strip() or "=" not in override:
            raise UserError(f"{path}: --set {shown(override)}: expected KEY=VALUE")
    overrides = list(args.overrides)
    if args.seeds is not None:
        overrides.append(f"experiment.seeds={args.seeds}")
    experiment = load_experiment(path, overrides)
    out = args.out or Path("results") / experiment.name
    start = time.perf_counter()
    try:
        if experiment.name in REPLICATIONS:
            return _replicate(experiment, out, args, start)
        # Opened before the folder, so that an unreachable cluster leaves nothing behind.
        with open_executor(args.executor, args.workers) as pool:
            result = run_experiment(
                experiment, out, pool, progress=_progress(args), track=args.track
            )
    except KeyboardInterrupt:
        print(
            f"\nrecloop: interrupted; finished runs are saved in {out}: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except ClusterLost as lost:
        print(f"recloop: error: {lost} (in {out})", file=sys.stderr)
        return EXIT_CLUSTER_LOST
    elapsed = time.perf_counter() - start
    print(
        f"{experiment.name}: {len(result.computed)} runs computed, {len(result.skipped)} "
        f"already done, {len(result.failures)} failed, in {elapsed:.0f} s ({args.executor})"
    )
    _print_result(result)
    return _status(result)


def _replicate(experiment: Experiment, out: Path, args: argparse.Namespace, start: float) -> int:
    """A replication (`experiments.replication`): its runs, then the published-vs-recloop
    table in ``out/report.md``.
    """
    if args.track is not None:
        raise UserError(
            f"--track {args.track}: replications are not tracked (their outcome is the table in "
            "report.md); run without --track"
        )
    with open_executor(args.executor, args.workers) as pool:
        result = replicate(
            experiment, REPLICATIONS[experiment.name], out, pool, progress=_progress(args)
        )
    elapsed = time.perf_counter() - start
    print(
        f"{experiment.name}: {len(result.computed)} runs computed, {len(result.skipped)} "
        f"already done, in {elapsed:.0f} s ({args.executor})"
    )
    _print_replication(result)
    return EXIT_OK


def _print_replication(result: ReplicationResult) -> None:
    print(result.table.to_string(index=False))
    print(f"\nreport: {result.out / 'report.md' if result.out else '(not saved)'}")


def _report(args: argparse.Namespace) -> int:
    _require_utf8(args.dir)
    folder = args.dir
    check_folder(folder)
    name = load_experiment(folder / "experiment.toml").name
    if name in REPLICATIONS:
        _print_replication(rebuild_replication(folder, REPLICATIONS[name]))
        return EXIT_OK
    result = rebuild(folder)
    if result.missing:
        print(f"recloop: {len(result.missing)} runs never finished; the report leaves them out")
    _print_result(result)
    return _status(result)


def _list() -> int:
    for path in sorted(CONFIGS.glob("*.toml")):
        description = load_experiment(path).settings.description.strip()
        print(f"{path.stem:<20} {description.splitlines()[0] if description else ''}")
    return EXIT_OK


def _warn(message: Warning | str, *_: Any, **__: Any) -> None:
    print(f"recloop: warning: {message}", file=sys.stderr)


def _log_internal_error(error: Exception) -> int:
    """Keep the traceback in a log file and say in one line where it is."""
    with tempfile.NamedTemporaryFile(
        "w", prefix="recloop-error-", suffix=".log", delete=False, encoding="utf-8"
    ) as log:
        log.write(f"recloop {' '.join(sys.argv[1:])}\n\n")
        log.write("".join(traceback.format_exception(error)))
    first_line = next(iter(str(error).splitlines()), "")
    print(
        f"recloop: internal error: {type(error).__name__}: {cut(first_line)}; "
        f"traceback in {log.name} (please report it)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``recloop`` command on `argv` (the process's arguments when None) and return its
    exit status; bad input prints one line, an internal error saves its traceback to a file.
    """
    args = _parser().parse_args(argv)
    with warnings.catch_warnings(), handling_signals():
        warnings.showwarning = _warn
        try:
            if args.command == "run":
                return _run(args)
            if args.command == "report":
                return _report(args)
            return _list()
        except USER_ERRORS as error:
            message = " ".join(str(error).split())
            print(f"recloop: error: {message}", file=sys.stderr)
            # a replication's failed runs are saved as failed: a rerun retries only them
            return EXIT_FAILED_RUNS if isinstance(error, RunsFailed) else EXIT_BAD_INPUT
        except KeyboardInterrupt:
            # outside a sweep (loading a file, rebuilding a report): every write is atomic
            print("\nrecloop: interrupted; nothing was left half-written", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as error:
            return _log_internal_error(error)


if __name__ == "__main__":
    sys.exit(main())
