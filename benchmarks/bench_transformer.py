"""Per-model training-step time of the transformer ensemble against a naive one-model-at-a-time loop.

Run with ``OMP_NUM_THREADS=1 python benchmarks/bench_transformer.py`` (``--quick`` for fewer rounds). Nanda
et al.'s sizes (d_model 128, 4 heads, d_mlp 512, 30% of the pairs, full batch, float32) at p = 59 and
p = 113, an ensemble of ``--runs`` models. Every variant is timed in this one process, interleaved over
several rounds, and the median of the rounds is reported, so the ratios compare like with like:

- naive: one ``nn.Module`` per model (:class:`training.engine.transformer.Transformer`: all three positions,
  causal attention), ``loss.backward()`` and ``torch.optim.AdamW``, the models one after another;
- ours, loop: :mod:`training`'s step (the "=" position only, tabulated per-token attention terms, autograd,
  the ensemble's AdamW) on one model at a time, as ``train()`` runs it on the CPU;
- ours, batched: the same step on the whole ensemble as one set of batched tensors, per model;
- ours, vmap: ``torch.func.vmap`` of ``torch.func.grad`` of one model's loss over the ensemble, per model (the
  alternative to batched autograd that the issue names), gradients only, no optimizer step.

Measured on the project's shared 2-core machine (torch 2.13 CPU, one thread, 4 runs, median of 7) while
other jobs kept it at a load of about 7, so the absolute times are several times the idle ones and only the
ratios carry over: ms per model-step, p = 59: naive 578, ours loop 161 (3.6x), batched 155 (3.7x), vmap 163
(3.5x); p = 113: naive 1585, ours loop 434 (3.7x), batched 429 (3.7x), vmap 457 (3.5x). The gain is the "="
position alone (the MLP on one position of three); batching the ensemble adds nothing on one CPU thread, so
train() keeps one model at a time there and batches on CUDA.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from training import TrainConfig
from training.engine import loop
from training.engine import transformer as tf


def naive_stepper(batch: loop.ModelBatch):
    """One nn.Module and torch AdamW per run, started from the batch's own initial parameters."""
    config = batch.config
    models, optimizers = [], []
    for r in range(batch.params["embedding"].shape[0]):
        model = tf.Transformer({name: value[r] for name, value in batch.params.items()}, heads=config.heads)
        models.append(model)
        optimizers.append(
            torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=config.betas)
        )
    # each run's own split: the rows of the batch's (R, n) pairs
    pairs = [tuple(x[r] if x.dim() == 2 else x for x in batch.train) for r in range(len(models))]

    def step():
        for model, optimizer, (a, b, c) in zip(models, optimizers, pairs, strict=True):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(a, b), c).backward()
            optimizer.step()

    return step, len(models)


def ours_stepper(batches: list[loop.ModelBatch]):
    def step():
        for batch in batches:
            _, _, grads = batch.gradients(record=False)
            batch.update(grads)

    return step, sum(batch.params["embedding"].shape[0] for batch in batches)


def vmap_stepper(batch: loop.ModelBatch):
    config = batch.config

    def loss(params, a, b, c):
        one = {name: value.unsqueeze(0) for name, value in params.items()}
        logits = tf.forward(one, a, b, heads=config.heads, activation=config.activation)[0]
        return F.cross_entropy(logits, c)

    shared = batch.train.a.dim() == 1
    gradient = torch.func.vmap(torch.func.grad(loss), in_dims=(0, None, None, None) if shared else 0)

    def step():
        gradient(batch.params, *batch.train)

    return step, batch.params["embedding"].shape[0]


def measure(p: int, runs: int, rounds: int, steps: int) -> dict[str, float]:
    config = TrainConfig(architecture="transformer", p=p, runs=runs, device="cpu", steps=10)
    device = torch.device("cpu")
    variants = {
        "naive nn.Module loop": naive_stepper(loop.initial_batches(config, device, chunk=runs)[0]),
        "ours, loop": ours_stepper(loop.initial_batches(config, device, chunk=1)),
        "ours, batched": ours_stepper(loop.initial_batches(config, device, chunk=runs)),
        "ours, vmap (grads only)": vmap_stepper(loop.initial_batches(config, device, chunk=runs)[0]),
    }
    times = {name: [] for name in variants}
    for step, _ in variants.values():
        step()  # warm-up
    for _ in range(rounds):
        for name, (step, models) in variants.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            times[name].append((time.perf_counter() - start) / (steps * models) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--runs", type=int, default=4, help="models in the ensemble")
    args = parser.parse_args()
    rounds, steps = (3, 2) if args.quick else (7, 3)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.runs} runs, median of {rounds}")
    for p in (59, 113):
        result = measure(p, args.runs, rounds, steps)
        base = result["naive nn.Module loop"]
        print(f"p = {p} ({int(0.3 * p * p)} training pairs), ms per model-step:")
        for name, value in result.items():
            print(f"  {name:26s} {value:8.2f}   {base / value:5.2f}x faster than naive")


if __name__ == "__main__":
    main()
