"""Worker and child processes that end when the process that started them is killed.

``fdf build`` runs its download stage in a spawned child process, and download and annotate in
loky worker processes. When the build is killed with SIGKILL (``kill -9``, the OOM killer),
nothing runs in it to stop them: the download child was orphaned and idled for good, holding the
download folder's lock, so every rerun was refused until someone found and killed it by hand.

:func:`exit_with_parent` runs first in such a process (as its pool's initializer):

* on Linux it asks the kernel to send SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``).
  The kernel sends it when the parent *thread* that started the process ends; the pools here are
  started from the thread that runs the stage, which lives as long as the pool is used;
* everywhere, a daemon thread checks twice a second that the parent is still the same process and
  ends this one otherwise, which also catches a parent that died before this process got here.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_watchdog: threading.Thread | None = None


def _parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, every: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(every)
    os._exit(1)  # no cleanup that could block: the work is resumed from its markers


def exit_with_parent(parent_pid: int, every: float = 0.5) -> None:
    """End this process (SIGKILL on Linux, else within ``every`` seconds) once ``parent_pid``,
    its parent, is gone. Idempotent; a pool initializer or the first thing a child runs."""
    global _watchdog
    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(1)
    _parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:  # ... or while we were asking
        os._exit(1)
    if _watchdog is None or not _watchdog.is_alive():
        _watchdog = threading.Thread(target=_watch, args=(parent_pid, every), daemon=True, name="fdf-exit-with-parent")
        _watchdog.start()
