"""What a dask worker sets up before it trains: torch's thread count and, on a machine with GPUs, its own GPU.

A sweep's parallelism comes from its worker processes, one per core or one per GPU, so each worker's torch
uses one thread: several threads per process would only compete for the same cores.
"""

from __future__ import annotations

import os
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
