"""Where joblib runs the stages: loky processes on this machine, or an existing Dask cluster.

The download and annotate stages call ``joblib.Parallel`` without naming a backend, so the
``joblib.parallel_config`` opened here decides. For Dask, the scheduler's task stream is recorded
so a build can show which workers (and worker processes) did the work.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import joblib

from fdf.errors import FdfError
from fdf.parent_death import exit_with_parent

try:  # loky's module-level executor: joblib's private API, guarded in case joblib moves it
    from joblib.externals.loky import reusable_executor
except ImportError:
    reusable_executor = None

log = logging.getLogger(__name__)


class BackendError(FdfError):
    """The requested backend cannot be used (e.g. no Dask scheduler at the address)."""


@dataclass
class BackendInfo:
    """The backend a build ran on; for Dask, tasks per worker and each worker's pid."""

    name: str
    scheduler: str | None = None
    client_pid: int = field(default_factory=os.getpid)
    workers: dict = field(default_factory=dict)  # worker address -> pid
    tasks_by_worker: dict = field(default_factory=dict)  # worker address -> tasks run

    @property
    def worker_pids_used(self) -> list[int]:
        """Pids of the workers that ran at least one task."""
        return sorted(self.workers[w] for w in self.tasks_by_worker if w in self.workers)


@contextlib.contextmanager
def backend_context(name: str = "loky", scheduler: str | None = None, timeout: float = 10.0) -> Iterator[BackendInfo]:
    """Run the enclosed stages on backend ``name`` ('loky' or 'dask' at ``scheduler``)."""
    if name == "loky":
        with local_workers_config():
            yield BackendInfo("loky")
        return
    if name != "dask":
        raise BackendError(f"unknown backend {name!r} (loky or dask)")
    if not scheduler:
        raise BackendError("--backend dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    try:
        # lazy: dask.distributed is optional and loads in ~0.4 s; only --backend dask needs it
        from dask.distributed import Client, get_task_stream
    except ImportError:
        raise BackendError("the dask backend needs dask[distributed]: pip install 'fdf-toolkit[dask]'") from None
    try:
        client = Client(scheduler, timeout=timeout, set_as_default=True)
    except (OSError, TimeoutError) as exc:
        raise BackendError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    info = BackendInfo("dask", scheduler)
    try:
        # Each worker process answers with its own pid (the scheduler's info does not carry it).
        info.workers = dict(client.run(os.getpid))
        if not info.workers:
            raise BackendError(f"the Dask scheduler at {scheduler} has no workers")
        log.info("dask: %d workers at %s", len(info.workers), scheduler)
        with joblib.parallel_config(backend=_dask_backend_name()), get_task_stream(client) as stream:
            yield info
        info.tasks_by_worker = dict(sorted(Counter(t["worker"] for t in stream.data).items()))
        info.workers.update(client.run(os.getpid))  # workers may have joined during the run
    finally:
        client.close()


def _dask_backend_name() -> str:
    """joblib's Dask backend, registered so that the tasks always go to the cluster.

    joblib counts the cluster's threads as its ``n_jobs``, and with one in all (one single-thread
    worker) it runs every task in the calling process instead, silently. Counting at least 2
    keeps them on the cluster. Falls back to joblib's own backend if its private module moves.
    """
    try:
        # lazy: joblib._dask imports dask.distributed (~0.4 s, optional); only --backend dask needs it
        from joblib._dask import DaskDistributedBackend
    except ImportError:
        return "dask"

    class ClusterDaskBackend(DaskDistributedBackend):
        def effective_n_jobs(self, n_jobs):
            return max(2, super().effective_n_jobs(n_jobs))

    joblib.register_parallel_backend("fdf-dask", ClusterDaskBackend)
    return "fdf-dask"


def local_workers_config():
    """``joblib.parallel_config`` for loky workers that end with the process that starts them,
    even when it is killed with SIGKILL (:func:`fdf.parent_death.exit_with_parent`): orphaned
    workers otherwise outlive a killed build (and, in the download stage, its lock)."""
    return joblib.parallel_config(backend="loky", initializer=exit_with_parent, initargs=(os.getpid(),))


def release_local_workers() -> bool:
    """Stop joblib's reusable loky workers now, rather than after their 300 s idle timeout.

    Annotate workers each hold the detection, landmark and descriptor models (~0.5 GB); select
    and report run in the build process afterwards and need none of them. Returns whether
    workers were running. Uses loky's module-level executor, guarded in case joblib moves it.
    """
    if reusable_executor is None:
        return False
    executor = getattr(reusable_executor, "_executor", None)
    if executor is None or not getattr(executor, "_processes", None):
        return False
    executor.shutdown(wait=True)
    return True
