"""What ``training.Recorder.record`` adds to a user's own training step.

Run with ``OMP_NUM_THREADS=1 python benchmarks/bench_recorder.py`` (``--quick`` for fewer rounds). The model
is tutorial 5's (an ``nn.Embedding`` of p tokens, d wide, one hidden ReLU layer, full batch on 80% of the
pairs, ``torch.optim.AdamW``), at p = 23 and p = 113. Two variants of the step are timed in this one process,
interleaved over several rounds, and the median of the rounds is reported, so the ratio compares like with
like:

- plain: forward, ``backward()``, optimizer step;
- recorded: the same, plus ``rec.record(step, loss=loss)`` after ``backward()``.

The ratio recorded / plain is the recorder's cost; the numbers of the last run are in the commit message that
added or changed this file.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import training


def setup(p: int, d: int, width: int):
    torch.manual_seed(0)
    embed, hidden, out = nn.Embedding(p, d), nn.Linear(2 * d, width), nn.Linear(width, p)
    params = [*embed.parameters(), *hidden.parameters(), *out.parameters()]
    optimizer = torch.optim.AdamW(params, lr=0.01, weight_decay=1.0)
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).T
    train = torch.randperm(p * p)[: int(0.8 * p * p)]
    a, b, c = a[train], b[train], (a[train] + b[train]) % p

    def step(rec, index: int) -> None:
        logits = out(torch.relu(hidden(torch.cat([embed(a), embed(b)], -1))))
        loss = nn.functional.cross_entropy(logits, c)
        loss.backward()
        if rec is not None:
            rec.record(index, loss=loss)
        optimizer.step()
        optimizer.zero_grad()

    return embed, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps")
    args = parser.parse_args()
    rounds, steps = (3, 50) if args.quick else (7, 200)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); median of {rounds} rounds of {steps} steps")
    print(f"{'p':>4} {'d':>4} {'width':>5} {'plain ms':>9} {'recorded ms':>12} {'ratio':>6}")
    for p, d, width in ((23, 32, 64), (113, 128, 512)):
        embed, step = setup(p, d, width)
        rec = training.Recorder(p=p, embedding=embed)
        times: dict[str, list[float]] = {"plain": [], "recorded": []}
        counter = 0
        step(None, 0)  # warm-up: first-call allocations
        for _ in range(rounds):
            for name in times:
                start = time.perf_counter()
                for _ in range(steps):
                    step(rec if name == "recorded" else None, counter)
                    counter += 1
                times[name].append((time.perf_counter() - start) / steps * 1e3)
        plain, recorded = (statistics.median(times[name]) for name in ("plain", "recorded"))
        print(f"{p:>4} {d:>4} {width:>5} {plain:>9.3f} {recorded:>12.3f} {recorded / plain:>6.2f}")
        rec.to_dataset()  # the records are usable: one host copy at the end


if __name__ == "__main__":
    main()
