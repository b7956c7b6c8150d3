"""A Dask client as a `concurrent.futures.Executor` that places tasks by their resource needs
and gives up, with one line, on a cluster that stops making progress.

Kept apart from `experiments.executors` so that Dask (the ``dask`` extra) is imported only when
a Dask executor is asked for.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from contextlib import suppress
from typing import Any

from distributed import Client, LocalCluster
from distributed.cfexecutor import ClientExecutor
from distributed.comm import connect

from experiments.cluster_lost import ClusterLost

CONNECT_TIMEOUT = 10.0
"""Seconds to reach a scheduler's port; a scheduler that accepts gets 5 s more to answer."""
PROGRESS_TIMEOUT = 60.0
"""Seconds a sweep waits with runs pending while the scheduler does not answer or has no
worker; Dask restarts a killed worker (under a nanny) well within it."""
POLL_INTERVAL = 1.0


async def _probe(address: str) -> None:
    comm = await asyncio.wait_for(connect(address, timeout=CONNECT_TIMEOUT), CONNECT_TIMEOUT + 5)
    await comm.close()


def connect_client(address: str) -> Client:
    """A client of the scheduler at `address`, or a `ConnectionError` within about 15 s: a port
    with nothing listening fails after `CONNECT_TIMEOUT`, and a listener that never answers the
    handshake (which Dask would wait for without limit) 5 s later.
    """
    try:
        # In a thread of its own: the caller may be inside a running event loop (a notebook).
        with ThreadPoolExecutor(1) as probing:
            probing.submit(asyncio.run, _probe(address)).result()
    except TimeoutError:
        reason = f"it accepted a connection but did not answer within {CONNECT_TIMEOUT + 5:g} s"
    except OSError as error:
        timed_out = str(error).startswith("Timed out")
        reason = (
            f"nothing accepted a connection within {CONNECT_TIMEOUT:g} s"
            if timed_out
            else str(error)
        )
    else:
        return Client(address, timeout=CONNECT_TIMEOUT)
    raise ConnectionError(f"no Dask scheduler answers at {address}: {reason}")


class DaskExecutor(ClientExecutor):
    """Submits to `client` (closing it, and `cluster` if given, on shutdown). A callable with a
    ``resources`` attribute asks for ``MEMORY`` and ``CORES``, as far as the workers advertise
    them (see `experiments.executors`).

    Pending runs fail with `ClusterLost` when the scheduler goes away, or when for
    `progress_timeout` seconds it does not answer or has no worker; a killed worker with others
    alive costs only time (Dask runs its tasks again elsewhere).
    """

    def __init__(
        self,
        client: Client,
        cluster: LocalCluster | None = None,
        progress_timeout: float = PROGRESS_TIMEOUT,
    ) -> None:
        super().__init__(client, pure=False)
        self._cluster = cluster
        self._address = getattr(client.scheduler, "address", "(unknown)")
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        self._largest: dict[str, float] = {}
        for worker in workers:
            for name, amount in worker.get("resources", {}).items():
                self._largest[name] = max(self._largest.get(name, 0.0), float(amount))
        self._progress_timeout = progress_timeout
        self._pending: set[Future[Any]] = set()
        self._guard = threading.Lock()
        self._stopped = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="dask-watchdog", daemon=True)
        self._watchdog.start()

    def placement(self, fn: Callable[..., Any]) -> dict[str, float] | None:
        """The task resources to ask for on behalf of `fn`, or None for no restriction."""
        needs = getattr(fn, "resources", None)
        if needs is None:
            return None
        wanted = {"MEMORY": float(needs.memory), "CORES": float(needs.cores)}
        placed = {name: value for name, value in wanted.items() if name in self._largest}
        return placed or None

    # ClientExecutor's untyped `submit` clashes with Executor's positional-only one.
    def submit(  # type: ignore[override]
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Future[Any]:
        """Submit `fn` on the cluster with the resources it declares; fail its future at once when
        no worker could ever take it, since Dask would wait for one forever.
        """
        placed = self.placement(fn)
        outer: Future[Any] = Future()
        for name, value in (placed or {}).items():
            if value > self._largest[name]:
                # Dask would wait forever for a worker that can take it: fail the run instead.
                outer.set_exception(
                    ValueError(
                        f"run needs {name}={value:.4g} but the largest worker offers "
                        f"{self._largest[name]:.4g}"
                    )
                )
                return outer
        inner = super().submit(fn, *args, resources=placed, **kwargs)
        with self._guard:
            self._pending.add(outer)
        inner.add_done_callback(lambda done: self._settle(outer, done))
        outer.add_done_callback(lambda done: done.cancelled() and inner.cancel())
        return outer

    def _settle(self, outer: Future[Any], inner: Future[Any]) -> None:
        """Pass the outcome of Dask's future to ours; Dask cancels every future when the
        scheduler goes away, which would reach the sweep as an empty `CancelledError`.
        """
        if inner.cancelled():
            if not self._stopped.is_set():
                self._fail(outer, f"the Dask scheduler at {self._address} went away")
        elif (error := inner.exception()) is not None:
            self._resolve(outer, lambda: outer.set_exception(error))
        else:
            self._resolve(outer, lambda: outer.set_result(inner.result()))

    def _resolve(self, outer: Future[Any], settle: Callable[[], None]) -> None:
        with self._guard:
            self._pending.discard(outer)
            with suppress(InvalidStateError):  # already failed by the watchdog
                settle()

    def _fail(self, outer: Future[Any], reason: str) -> None:
        message = f"{reason}; finished runs are saved: run the same command again to resume"
        self._resolve(outer, lambda: outer.set_exception(ClusterLost(message)))

    def _problem(self) -> str | None:
        """Why the cluster cannot make progress now, or None when it can."""
        try:
            threads = self._client.nthreads(callback_timeout=POLL_INTERVAL * 5)
        except Exception:
            return "did not answer"
        if not threads:
            return "had no worker"
        return None

    def _watch(self) -> None:
        healthy = time.monotonic()
        while not self._stopped.wait(POLL_INTERVAL):
            if not self._pending:
                healthy = time.monotonic()
                continue
            problem = self._problem()
            if problem is None:
                healthy = time.monotonic()
            elif time.monotonic() - healthy > self._progress_timeout:
                reason = (
                    f"the Dask scheduler at {self._address} {problem} "
                    f"for {self._progress_timeout:.0f} s"
                )
                with self._guard:
                    pending = list(self._pending)
                for outer in pending:
                    self._fail(outer, reason)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the watchdog, close the client and, when this executor started it, the cluster."""
        self._stopped.set()
        super().shutdown(wait=wait and not cancel_futures)
        self._client.close(timeout=CONNECT_TIMEOUT)
        if self._cluster is not None:
            self._cluster.close(timeout=CONNECT_TIMEOUT)
        self._watchdog.join()
