"""Cost per record of the restricted and excluded loss against a plain training step and the plain record.

Run with ``OMP_NUM_THREADS=1 python benchmarks/bench_measures.py`` (``--quick`` for fewer rounds). For the
default MLP (the paper's) and Nanda's transformer at p = 59 and p = 113, one model, float32, on the CPU, these
are timed, interleaved over rounds, median reported:

- step: one training step (gradients and the AdamW update), what every step costs;
- record: the quantities a record computed before this measure (the spectra, the test pass);
- progress: the restricted and excluded loss (:attr:`training.engine.quantities.Live.progress`): one forward
  pass over the training pairs, the unembedding's spectrum and the projection of the logits;
- the post-hoc measures, on one run's records of the default schedule: the spectrum's sparsity
  (:func:`training.spectrum_sparsity`, Gini and inverse participation ratio, per record) and the transition times
  (:func:`training.learning_times`, once per run).

The ratio progress / step is the cost of the measure per record in steps; the loop records on a schedule
(``record_every``), so its share of a run is that ratio over the steps between records.

Measured on the project's shared 2-core machine (torch CPU, one thread, 7 rounds of 10, load about 3-4; two
runs a minute apart, their range), ms:

| model | step | plain record | restricted + excluded | in steps | gini + ipr per record | transition times per run |
|---|---|---|---|---|---|---|
| MLP p = 59 | 3.4-7.3 | 4.7-9.9 | 3.6-5.8 | 0.79-1.08 | 0.7-1.8 us | 2.4-4.9 |
| MLP p = 113 | 15-21 | 22-23 | 22-23 | 1.03-1.53 | 1.2-1.3 us | 2.8 |
| transformer p = 59 | 10-12 | 20-25 | 4.1-4.9 | 0.41 | 0.8-1.0 us | 2.6-3.2 |
| transformer p = 113 | 35-66 | 83-147 | 15-30 | 0.45 | 1.1-1.4 us | 2.5-3.5 |

Most of the restricted and excluded loss is the forward pass over the training pairs (MLP p = 59: forward 4.2
ms, the cross-entropies 2 x 1 ms, the projection as one (p, p) matmul per run). With the default schedule
(every step to 1000, then every 100: 1291 records in the MLP's 30 000 steps, 1391 in the transformer's 40 000)
it adds about 1291 x 1 / 30 000 = 4% of the steps' time to the default MLP run and 1391 x 0.45 / 40 000 = 1.6%
to Nanda's transformer. The post-hoc measures are negligible: the sparsity costs about 1e-4 of a step per
record, the transition times under one step per run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import xarray as xr

from training import TrainConfig, learning_times, spectrum_sparsity
from training.engine import loop
from training.engine.quantities import QUANTITIES, UNEMBED_SIGNAL, Live
from training.engine.schedule import record_steps
from training.engine.sites import OnDevice


def timed(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def bench(config: TrainConfig, rounds: int, repeats: int) -> dict[str, float]:
    batch = loop.initial_batches(config, torch.device("cpu"))[0]
    basis = OnDevice(config.task_spec.components(config.p), batch.params["embedding"])
    plain = [q for q in (*QUANTITIES, UNEMBED_SIGNAL) if q.name not in ("restricted_loss", "excluded_loss")]

    def step():
        _, _, grads = batch.gradients(record=False)
        batch.update(grads)

    def live():
        losses, accuracy, grads = batch.gradients(record=True)
        return Live(batch, grads, losses, accuracy, basis)

    def record():
        state = live()
        with torch.no_grad():
            for quantity in plain:
                quantity.compute(state)

    def progress():
        with torch.no_grad():
            state.progress  # noqa: B018 (the cached property is the measure)
            del state.__dict__["progress"]

    state = live()
    # the post-hoc measures read a whole run's records at once: one run of the default schedule, its embedding
    # spectrum as recorded (every record the same: their cost does not depend on the values)
    steps = record_steps(config)
    with torch.no_grad():
        spectrum = basis.power(batch.params["embedding"]).double().numpy()
    signal = xr.DataArray(
        np.broadcast_to(spectrum[:, None, :], (1, len(steps), spectrum.shape[-1])),
        dims=("run", "step", "frequency"),
        coords={"step": steps},
        name="signal",
    )
    curve = xr.DataArray(np.linspace(0, 1, len(steps))[None], dims=("run", "step"), coords={"step": steps})
    accuracies = xr.Dataset({"train_acc": curve, "test_acc": curve**2})

    def sparsity():
        spectrum_sparsity(signal, measure="gini")
        spectrum_sparsity(signal, measure="ipr")

    def transitions():
        learning_times(accuracies)

    times: dict[str, list[float]] = {"step": [], "record": [], "progress": [], "sparsity": [], "transitions": []}
    for _ in range(rounds):
        times["step"].append(timed(step, repeats))
        times["record"].append(timed(record, repeats))
        times["progress"].append(timed(progress, repeats))
        times["sparsity"].append(timed(sparsity, repeats) / len(steps))
        times["transitions"].append(timed(transitions, repeats))
    out = {name: statistics.median(values) for name, values in times.items()}
    out["records"] = len(steps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5 instead of 7 of 10")
    parser.add_argument("--p", type=int, nargs="+", default=[59, 113], help="the moduli to time (59 and 113)")
    args = parser.parse_args()
    rounds, repeats = (3, 5) if args.quick else (7, 10)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    for architecture in ("mlp", "transformer"):
        for p in args.p:
            config = TrainConfig(architecture=architecture, p=p, runs=1, device="cpu")
            t = bench(config, rounds, repeats)
            print(
                f"{architecture:11s} p={p:3d}: step {t['step']:7.2f} ms, plain record {t['record']:7.2f} ms, "
                f"restricted+excluded {t['progress']:7.2f} ms = {t['progress'] / t['step']:.2f} steps; post hoc: "
                f"gini+ipr {t['sparsity'] * 1e3:6.1f} us per record = {t['sparsity'] / t['step']:.4f} steps, "
                f"transition times {t['transitions']:5.2f} ms per run ({t['records']} records) = "
                f"{t['transitions'] / t['step']:.2f} steps"
            )


if __name__ == "__main__":
    main()
