"""A Dask client as a `concurrent.futures.Executor` that places tasks by their resource needs.

Kept apart from `experiments.executors` so that Dask (the ``dask`` extra) is imported only when
a Dask executor is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from distributed import Client, LocalCluster
from distributed.cfexecutor import ClientExecutor


class DaskExecutor(ClientExecutor):
    """Submits to `client` (closing it, and `cluster` if given, on shutdown). A callable with a
    ``resources`` attribute asks for ``MEMORY`` and ``CORES``, as far as the workers advertise
    them (see `experiments.executors`)."""

    def __init__(self, client: Client, cluster: LocalCluster | None = None) -> None:
        super().__init__(client, pure=False)
        self._cluster = cluster
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        self._largest: dict[str, float] = {}
        for worker in workers:
            for name, amount in worker.get("resources", {}).items():
                self._largest[name] = max(self._largest.get(name, 0.0), float(amount))

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
        placed = self.placement(fn)
        for name, value in (placed or {}).items():
            if value > self._largest[name]:
                # Dask would wait forever for a worker that can take it: fail the run instead.
                future: Future[Any] = Future()
                future.set_exception(
                    ValueError(
                        f"run needs {name}={value:.4g} but the largest worker offers "
                        f"{self._largest[name]:.4g}"
                    )
                )
                return future
        return super().submit(fn, *args, resources=placed, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait and not cancel_futures)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
