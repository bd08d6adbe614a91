"""What a dask worker sets up before it trains: torch's thread count, a steady process for long numerical tasks
and, on a machine with GPUs, its own GPU.

A sweep's parallelism comes from its worker processes, one per core or one per GPU, so each worker's torch
uses one thread: several threads per process would only compete for the same cores.
"""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path

from distributed import WorkerPlugin

# torch is imported where it is used: the process that plans a sweep and starts its cluster never needs it
# (2.6 s on a 2-core machine), only the workers do


def gpu_count() -> int:
    """The number of CUDA GPUs torch sees on this machine (0 without CUDA; torch is not loaded without a driver)."""
    if not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists() or os.name != "posix"):
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class TorchThreads(WorkerPlugin):
    """Set torch's intra-op thread count on every worker (``Client.register_plugin``).

    Arguments:
        threads: the number of threads.
    """

    name = "fittest-torch-threads"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def setup(self, worker) -> None:
        import torch

        torch.set_num_threads(self.threads)


class SteadyWorker(WorkerPlugin):
    """Make a dask worker run a training step as fast as a plain Python process does (``Client.register_plugin``).

    Two of a dask worker's defaults cost a CPU training step 18% together (measured per step on the default
    p = 59 model, one core, a 1-worker local cluster against the same steps in the client's process: 4.32 ms
    against 3.76 ms; with this plugin 3.55 ms):

    - its statistical profiler samples the task thread's stack every 10 ms (about 9%); this stops it, so the
      dashboard's profile page stays empty;
    - ``MALLOC_TRIM_THRESHOLD_`` (which dask's nanny sets so that freed memory goes back to the system at once)
      also fixes glibc's mmap threshold at 128 KiB, so every step's megabyte-sized temporaries are mapped and
      unmapped afresh, page faults and all (about 9%). A training task's memory stays level from step to step,
      so this lets glibc keep what it frees, as a plain process does: blocks up to 32 MiB come from the heap and
      the heap is trimmed only past 256 MiB free.
    """

    name = "fittest-steady-worker"

    def __init__(self) -> None:
        # a worker of a threads-only cluster lives in the caller's own process (a notebook, say), whose memory
        # is not a training task's to manage: there the malloc settings are left alone
        self.caller = os.getpid()

    def setup(self, worker) -> None:
        for name in ("profile", "profile-cycle"):
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()
        worker.fittest_malloc_kept = os.getpid() != self.caller and keep_freed_memory()


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed blocks up to 32 MiB in the heap and trim it only past 256 MiB free.

    Returns:
        Whether both settings took (False off glibc, where nothing is changed).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    # mallopt's parameter numbers in glibc's malloc.h; 32 MiB is the largest mmap threshold it takes on 64-bit
    mmap_threshold, trim_threshold = -3, -1
    return bool(libc.mallopt(mmap_threshold, 32 << 20)) and bool(libc.mallopt(trim_threshold, 256 << 20))


class PinGPU(WorkerPlugin):
    """Give each worker of a local cluster one GPU of its own through ``CUDA_VISIBLE_DEVICES``.

    Worker ``i`` (a :class:`~distributed.LocalCluster` names its workers 0, 1, ...) sees GPU ``i % count`` alone,
    as ``cuda:0``. Register it before anything in the worker uses CUDA: CUDA reads the variable once.

    Arguments:
        count: the number of GPUs of the machine.
    """

    name = "fittest-pin-gpu"

    def __init__(self, count: int) -> None:
        self.count = count

    def setup(self, worker) -> None:
        name = str(worker.name)
        index = int(name) if name.isdigit() else sum(name.encode())
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % self.count)
