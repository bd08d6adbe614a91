"""Per-model training-step time of `training` against the authors' naive loop and the unavoidable matmuls.

Run with ``OMP_NUM_THREADS=1 python benchmarks/bench_training.py`` (add ``--quick`` for a shorter run).
Every variant is timed in this one process, interleaved over several rounds, and the median of the rounds
is reported, so that the ratios compare like with like on a shared machine:

- naive: what the authors ran: float64 ``nn.Module`` with ``[E_a, E_b]`` concatenated, ``torch.optim.AdamW``,
  the test set evaluated and the embedding copied every step;
- ours, loop: :mod:`training`'s step on one model at a time (float32, factorized first layer), unrecorded, as
  train() runs it on the CPU;
- ours, pairs: the same on two models at a time as one set of batched tensors (the CPU default until a run's
  bits had to be its own whatever its neighbours: a batch's matmuls round otherwise), per model;
- ours, batched: the same on the whole ensemble as one set of batched tensors, per model;
- ours, recorded: a recorded step (signals, gradient signal, test set), per model;
- matmuls: the six products of the hidden and output layers (forward, and the two backward products of each)
  that no formulation of the step avoids, at the same shapes and dtype.
And the default thread count: our loop step with 1 and with 2 torch threads.

Measured on the project's 2-core machine (torch 2.13 CPU, idle, best of 9 rounds, 8 models), per model step:
naive float64 17.4 ms (14.8 in another run; 27.8 while two other jobs kept both cores busy); ours 3.67 ms
unrecorded one model at a time, 3.48 ms two at a time (0.94x), 5.14 ms recorded; the unavoidable matmuls
1.89 ms. So the step is 4.7x faster than the authors' loop over a whole default 30 000-step schedule and 1.9x
the matmul floor (it was 5.25 ms, 2.85x, before the SiLU, first layer, softmax and AdamW each became one fused
pass). Of the rest, 0.55 ms are the two SiLU layers forward and backward, whose exponentials bound them (a
hand-written C kernel measured no faster), and about 0.2 ms is dispatching some 60 operations (a model of
p = 7, hidden 8 steps in 0.22 ms). Until the ensemble's batches shared one set of step buffers, each model's
buffers were evicted by the others': a loop over 16 models took 4.6 ms per model step, now 3.6. The whole
ensemble as one batch: 1.17x (its activations outgrow the cache). Two models at a time were the CPU default
(measured busy as well: 5.23 against 5.59 ms, medians) until it mattered that a run's records be the same
whatever it is batched with; one at a time costs at most the 4% measured idle: pairs / loop, median of paired
rounds, 0.95-1.07x in four interleaved runs of 25-40 rounds at a load of 4.3-4.6 on the 2 shared cores.
2 threads / 1 thread: 0.66x when the machine was idle, 2-9x slower while other jobs ran, so train() uses one
thread unless told otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn as nn

from training import TrainConfig
from training.engine import loop as train_module
from training.engine.schedule import record_steps
from training.fourier import fourier_basis, signal
from training.tasks import pairs, split

NAIVE = "naive float64 (authors' loop)"


class NaiveModel(nn.Module):
    """The authors' formulation: embed both tokens, concatenate, three Linear layers with SiLU."""

    def __init__(self, p: int, d: int, hidden: int):
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(p, d, dtype=torch.float64))
        self.mlp = nn.Sequential(
            nn.Linear(2 * d, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, p)
        ).double()

    def forward(self, a, b):
        return self.mlp(torch.cat([self.embedding[a], self.embedding[b]], dim=-1))


def naive_stepper(config: TrainConfig):
    torch.manual_seed(0)
    model = NaiveModel(config.p, config.d, config.hidden)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=config.betas
    )
    a_all, b_all, c_all = (torch.from_numpy(x) for x in pairs(config.p))
    train_idx, test_idx = (torch.from_numpy(x) for x in split(config.p, config.train_frac, 0))
    copies = []

    def step():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(a_all[train_idx], b_all[train_idx]), c_all[train_idx])
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            nn.functional.cross_entropy(model(a_all[test_idx], b_all[test_idx]), c_all[test_idx])
        copies.append(model.embedding.detach().clone())
        if len(copies) > 50:
            copies.clear()

    return step


def members(config: TrainConfig, chunk: int):
    """Our ensemble batches with ``chunk`` runs per batch of tensors (as train() builds them)."""
    return train_module.initial_batches(config, torch.device("cpu"), chunk=chunk)


def our_stepper(config: TrainConfig, chunk: int, *, record: bool = False):
    group = members(config, chunk)
    basis = torch.as_tensor(fourier_basis(config.p), dtype=getattr(torch, config.dtype))

    def step():
        for member in group:
            losses, accuracy, grads = member.gradients(record=record)
            if record:
                with torch.no_grad():
                    signal(member.params["embedding"].detach(), basis).clone()
                    signal(grads["embedding"], basis)
                    member.test()
            member.update(grads)

    return step


def matmul_stepper(config: TrainConfig):
    """The hidden and output layers' unavoidable products for one model: 2 forward, 4 backward."""
    dtype = getattr(torch, config.dtype)
    n, h, p = config.n_train, config.hidden, config.p
    x1, w2, w3 = torch.randn(n, h, dtype=dtype), torch.randn(h, h, dtype=dtype), torch.randn(p, h, dtype=dtype)
    g3 = torch.randn(n, p, dtype=dtype)

    def step():
        x2 = x1 @ w2.T
        x2 @ w3.T
        g2 = g3 @ w3
        g3.T @ x2
        g2 @ w2
        g2.T @ x1

    return step


def timed(step, repeat: int) -> float:
    step()  # warm-up: allocations, first-call overhead
    start = time.perf_counter()
    for _ in range(repeat):
        step()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    parser.add_argument("--runs", type=int, default=8, help="models in the ensemble")
    args = parser.parse_args()
    repeat, rounds = (8, 4) if args.quick else (16, 9)
    config = TrainConfig(runs=args.runs, device="cpu")
    torch.set_num_threads(1)
    print(
        f"p={config.p} d={config.d} hidden={config.hidden} n_train={config.n_train} runs={config.runs} "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )
    variants = {
        NAIVE: (naive_stepper(config), 1),
        "ours, loop, unrecorded": (our_stepper(config, 1), config.runs),
        "ours, pairs, unrecorded": (our_stepper(config, 2), config.runs),
        "ours, batched, unrecorded": (our_stepper(config, config.runs), config.runs),
        "ours, loop, recorded": (our_stepper(config, 1, record=True), config.runs),
        "unavoidable matmuls": (matmul_stepper(config), 1),
    }
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (step, models) in variants.items():
            times[name].append(timed(step, max(1, repeat // models)) / models)
    # the best round is the least disturbed by other processes on a shared machine; the median is shown beside it
    best = {name: min(values) for name, values in times.items()}
    for name, values in times.items():
        print(
            f"{name:34s} best {best[name] * 1e3:8.3f}  median {statistics.median(values) * 1e3:8.3f} ms per model step"
        )
    ours = best["ours, loop, unrecorded"]
    schedule = record_steps(TrainConfig())
    recorded_share = len(schedule) / TrainConfig().steps
    default = (1 - recorded_share) * ours + recorded_share * best["ours, loop, recorded"]
    print("ratios of the best rounds:")
    print(f"  naive / ours (loop, unrecorded step):                      {best[NAIVE] / ours:6.2f}x")
    print(f"  naive / ours (default 30000-step schedule, {len(schedule)} records): {best[NAIVE] / default:6.2f}x")
    print(f"  ours (loop, unrecorded) / unavoidable matmuls:             {ours / best['unavoidable matmuls']:6.2f}x")
    for name in ("pairs", "batched"):
        ratio = best[f"ours, {name}, unrecorded"] / ours
        print(f"{f'  {name} / loop (per model):':61s}{ratio:6.2f}x")

    threads = {}
    loop = our_stepper(config, 1)
    for _ in range(rounds):
        for count in (1, 2):
            torch.set_num_threads(count)
            threads.setdefault(count, []).append(timed(loop, max(1, repeat // config.runs)) / config.runs)
    torch.set_num_threads(1)
    one, two = (min(threads[c]) for c in (1, 2))
    print(
        f"  loop step, 2 threads / 1 thread:                           {two / one:6.2f}x "
        f"({one * 1e3:.3f} vs {two * 1e3:.3f} ms)"
    )


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
