"""A Dask cluster that is not there, or stops being there, ends the sweep with one line within
bounded time; a killed worker with others alive costs only time."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.cluster_lost import ClusterLost
from experiments.executors import parse_executor

distributed = pytest.importorskip("distributed")
dask_executor = pytest.importorskip("experiments.dask_executor")
DASK = str(Path(sys.executable).with_name("dask"))


@pytest.mark.parametrize(
    "spec", ["dask://localhost:notaport", "dask://localhost:", "dask://:8786", "dask://h:99999"]
)
def test_an_address_without_a_port_is_one_line(spec: str) -> None:
    with pytest.raises(
        ValueError, match=r"^executor must be dask://HOST:PORT with PORT in 1-65535"
    ):
        parse_executor(spec)


@pytest.fixture
def quick_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT", 1.0)


def test_a_port_with_nothing_listening_fails_within_the_connect_timeout(
    quick_timeouts: None,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    with pytest.raises(
        ConnectionError,
        match=f"^no Dask scheduler answers at {address}: nothing accepted a connection within 1 s$",
    ):
        dask_executor.connect_client(address)


def test_a_listener_that_never_speaks_fails_instead_of_hanging(quick_timeouts: None) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        accepted = []
        threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(
            ConnectionError, match=r"accepted a connection but did not answer within 6 s$"
        ):
            dask_executor.connect_client(address)
        assert accepted, "the probe reached the listener"
        for connection, _ in accepted:
            connection.close()


class Cluster:
    """A scheduler and workers without nannies (a killed worker stays dead), as processes."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / "scheduler.json"
        scheduler = "scheduler --host 127.0.0.1 --port 0 --no-dashboard --scheduler-file"
        self.scheduler = self._start(*scheduler.split(), str(self.file))
        self.workers: list[subprocess.Popen[bytes]] = []
        while not self.file.exists() or not self.file.read_text():
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]

    @staticmethod
    def _start(*arguments: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [DASK, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def add_workers(self, n: int, client: distributed.Client) -> None:
        for _ in range(n):
            worker = "worker --no-nanny --nthreads 1 --no-dashboard --scheduler-file"
            self.workers.append(self._start(*worker.split(), str(self.file)))
        client.wait_for_workers(len(self.workers), timeout=120)

    def stop(self) -> None:
        for process in (*self.workers, self.scheduler):
            process.kill()
            process.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path)
    yield cluster
    cluster.stop()


def _executor(cluster: Cluster, n_workers: int) -> dask_executor.DaskExecutor:
    client = dask_executor.connect_client(cluster.address)
    cluster.add_workers(n_workers, client)
    return dask_executor.DaskExecutor(client, progress_timeout=3.0)


def test_killing_the_only_worker_ends_pending_runs_with_one_line(cluster: Cluster) -> None:
    executor = _executor(cluster, 1)
    future = executor.submit(time.sleep, 600)
    time.sleep(1.0)
    cluster.workers[0].kill()
    with pytest.raises(
        ClusterLost, match=f"^the Dask scheduler at {cluster.address} had no worker for 3 s; "
    ):
        future.result(timeout=120)
    executor.shutdown(wait=False, cancel_futures=True)


def test_killing_the_scheduler_ends_pending_runs_with_one_line(cluster: Cluster) -> None:
    executor = _executor(cluster, 1)
    future = executor.submit(time.sleep, 600)
    time.sleep(1.0)
    cluster.scheduler.kill()
    with pytest.raises(ClusterLost, match=f"^the Dask scheduler at {cluster.address} ") as lost:
        future.result(timeout=120)
    assert "\n" not in str(lost.value) and "resume" in str(lost.value)
    executor.shutdown(wait=False, cancel_futures=True)


def test_a_killed_worker_with_others_alive_costs_only_time(cluster: Cluster) -> None:
    executor = _executor(cluster, 2)
    futures = [executor.submit(time.sleep, 2) for _ in range(2)]
    time.sleep(0.5)
    cluster.workers[0].kill()
    assert [future.result(timeout=120) for future in futures] == [None, None]
    executor.shutdown()
