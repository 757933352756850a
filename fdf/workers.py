"""joblib's local worker processes: stopping them when what they hold is no longer wanted."""

from __future__ import annotations


def release_local_workers() -> bool:
    """Stop joblib's reusable loky workers now, rather than after their 300 s idle timeout.

    Annotate workers each hold the detection, landmark and descriptor models (~0.5 GB) and their
    heaps creep over thousands of photos; select and report run in the build process afterwards
    and need none of them. Returns whether workers were running. Uses loky's module-level
    executor, guarded in case joblib moves it.
    """
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:
        return False
    executor = getattr(reusable_executor, "_executor", None)
    if executor is None or not getattr(executor, "_processes", None):
        return False
    executor.shutdown(wait=True)
    return True


def local_loky_active() -> bool:
    """Whether joblib's active backend is loky on this machine (not Dask, threads or sequential)."""
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    return type(backend).__name__ == "LokyBackend"
