"""What ``training.Recorder.record`` adds to a user's own training step, for each kind of site.

Run with ``OMP_NUM_THREADS=1 python benchmarks/bench_recorder.py`` (``--quick`` for fewer rounds). The model
is tutorial 5's (an ``nn.Embedding`` of p tokens, d wide, one hidden ReLU layer, full batch on 80% of the
pairs, ``torch.optim.AdamW``), at p = 23 and p = 113. The variants of the step are timed in this one process,
interleaved over several rounds, and the median of the rounds is reported, so the ratios compare like with
like:

- plain: forward, ``backward()``, optimizer step;
- embedding: the same, plus ``rec.record(step, loss=loss)`` of the Fourier embedding at every step;
- activation/10: a record every 10 steps of the hidden ReLU layer on a probe batch of the p pairs (a, a), in the
  Fourier basis over the probe axis, per unit (the model runs once more on the probe at each record);
- per-unit weight/10: a record every 10 steps of the hidden layer's weights on E_a (``lambda: hidden.weight[:,
  :d]``) in a PCA basis of d directions, per unit, with its gradient.

The ratio to plain is the recorder's cost; the numbers of the last run are in the commit message that added or
changed this file.
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
    embed, hidden, out, act = nn.Embedding(p, d), nn.Linear(2 * d, width), nn.Linear(width, p), nn.ReLU()
    params = [*embed.parameters(), *hidden.parameters(), *out.parameters()]
    optimizer = torch.optim.AdamW(params, lr=0.01, weight_decay=1.0)
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).T
    train = torch.randperm(p * p)[: int(0.8 * p * p)]
    a, b, c = a[train], b[train], (a[train] + b[train]) % p

    def model(pairs: torch.Tensor) -> torch.Tensor:
        return out(act(hidden(torch.cat([embed(pairs[0]), embed(pairs[1])], -1))))

    def step(rec, index: int, every: int) -> None:
        loss = nn.functional.cross_entropy(model(torch.stack([a, b])), c)
        loss.backward()
        if rec is not None and index % every == 0:
            rec.record(index, loss=loss)
        optimizer.step()
        optimizer.zero_grad()

    tokens = torch.arange(p)
    probe = torch.stack([tokens, tokens])  # one probe input per token
    w_a = hidden.weight.detach()[:, :d].numpy()
    recorders = {
        "embedding": (lambda: training.Recorder(p=p, embedding=embed), 1),
        "activation/10": (
            lambda: training.Recorder(
                sites={"hidden": training.Site.activation(act, training.bases.fourier(p), inputs=probe, per_unit=True)},
                model=model,
            ),
            10,
        ),
        "per-unit weight/10": (
            lambda: training.Recorder(
                sites={
                    "w_a": training.Site.weight(
                        lambda: hidden.weight[:, :d],
                        training.bases.pca(w_a, d),
                        axis=1,
                        per_unit=True,
                        gradient=lambda: hidden.weight.grad[:, :d],
                    )
                }
            ),
            10,
        ),
    }
    return step, recorders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps")
    args = parser.parse_args()
    rounds, steps = (3, 50) if args.quick else (7, 200)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); median of {rounds} rounds of {steps} steps")
    print(f"{'p':>4} {'d':>4} {'width':>5} {'variant':>20} {'ms/step':>8} {'ratio':>6}")
    for p, d, width in ((23, 32, 64), (113, 128, 512)):
        step, makers = setup(p, d, width)
        variants = {"plain": (None, 1), **{name: (make(), every) for name, (make, every) in makers.items()}}
        times: dict[str, list[float]] = {name: [] for name in variants}
        counter = 0
        step(None, 0, 1)  # warm-up: first-call allocations
        for _ in range(rounds):
            for name, (rec, every) in variants.items():
                start = time.perf_counter()
                for _ in range(steps):
                    step(rec, counter, every)
                    counter += 1
                times[name].append((time.perf_counter() - start) / steps * 1e3)
        plain = statistics.median(times["plain"])
        for name, (rec, _) in variants.items():
            ms = statistics.median(times[name])
            print(f"{p:>4} {d:>4} {width:>5} {name:>20} {ms:>8.3f} {ms / plain:>6.2f}")
            if rec is not None:
                rec.to_dataset()  # the records are usable: one host copy at the end


if __name__ == "__main__":
    main()
