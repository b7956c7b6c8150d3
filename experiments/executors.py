"""Where runs execute: one string names a `concurrent.futures.Executor`.

* ``"serial"``: in this process, one run after another (the default in notebooks).
* ``"processes"``: a pool of local worker processes (`workers` of them, default all cores).
* ``"dask"``: a local Dask cluster of `workers` single-threaded worker processes.
* ``"dask://HOST:PORT"``: an existing Dask scheduler.

Runs give the same numbers on all of them (each derives its randomness from its own seed).

Resource placement on Dask: a submitted callable may carry a ``resources`` attribute (a
`~experiments.resources.Resources`). Its memory and cores are passed to the scheduler as the task
resources ``MEMORY`` (bytes) and ``CORES``, but only those that some worker advertises (start
workers with, say, ``--resources "MEMORY=8e9 CORES=2"``): a task asking for a resource that no
worker has would never be scheduled. Workers are looked up when the executor opens.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

from simulator.validation import shown

EXECUTORS = ("serial", "processes", "dask", "dask://HOST:PORT")


class SerialExecutor(Executor):
    """Runs each task when it is submitted, in this process; its future is already done.

    A `KeyboardInterrupt` is not caught into the future: it stops the sweep.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Call `fn` now and return its future, already done, holding `fn`'s exception if any."""
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future


def _init_worker() -> None:
    """Workers leave Ctrl-C to the parent, which stops them, rather than each printing a
    traceback. Their progress bars lock with a thread lock: tqdm's default also creates a
    multiprocessing semaphore, reported as leaked when a stopped worker cannot release it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tqdm.set_lock(threading.RLock())


class ProcessExecutor(ProcessPoolExecutor):
    """A process pool started with ``spawn`` (forking a process that runs threads, such as
    progress bars, can deadlock) that can be stopped at once.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(
            max_workers=max_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )

    def terminate(self) -> None:
        """Kill the workers, abandoning running tasks (Python 3.14's `terminate_workers`)."""
        for process in list(self._processes.values()):
            process.terminate()
        self.shutdown(wait=True, cancel_futures=True)


def _dask_executor(address: str | None, workers: int | None) -> Executor:
    from distributed import Client, LocalCluster

    from experiments.dask_executor import DaskExecutor, connect_client

    if address is not None:
        return DaskExecutor(connect_client(address))
    cluster = LocalCluster(
        n_workers=workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
    )
    return DaskExecutor(Client(cluster), cluster)


def parse_executor(spec: str) -> tuple[str, str | None]:
    """The kind of executor `spec` names and, for a remote Dask cluster, its address."""
    if spec in ("serial", "processes", "dask"):
        return spec, None
    if spec.startswith("dask://"):
        host, colon, port = spec.removeprefix("dask://").rpartition(":")
        if not (host and colon and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(
                f"executor must be dask://HOST:PORT with PORT in 1-65535, got {shown(spec)}"
            )
        return "dask", f"tcp://{host}:{port}"
    raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {shown(spec)}")


def make_executor(spec: str, workers: int | None = None) -> Executor:
    """The executor `spec` names (see the module docstring); `workers` sizes local pools."""
    kind, address = parse_executor(spec)
    if kind == "serial":
        return SerialExecutor()
    if kind == "processes":
        return ProcessExecutor(max_workers=workers)
    return _dask_executor(address, workers)


@contextmanager
def open_executor(spec: str | Executor, workers: int | None = None) -> Iterator[Executor]:
    """An executor for the duration of a sweep. One we open is shut down on the way out (at once
    if the sweep was interrupted); one that is given is left for its owner to shut down.
    """
    if isinstance(spec, Executor):
        yield spec
        return
    executor = make_executor(spec, workers)
    try:
        yield executor
    except BaseException:
        if isinstance(executor, ProcessExecutor):
            executor.terminate()
        else:
            executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
