"""`fittest demo`: the whole pipeline on an embedded default, in a few minutes on a laptop CPU.

It trains a small ensemble of the paper's modular-addition model, records its Fourier signals, counts the
surviving circles, fits the linear and Lasso ODEs to the first 1000 steps, and writes an HTML report.
"""

from __future__ import annotations

import argparse

from fittest.cli.options import number

HELP = "train a small ensemble, find surviving circles, fit linear and Lasso ODEs, write an HTML report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="fittest-demo", help="output folder, created in an existing parent [%(default)s]"
    )
    parser.add_argument("--p", type=number, default=59, help="modulus [%(default)s]")
    parser.add_argument("--d", type=number, default=128, help="embedding dimension [%(default)s]")
    parser.add_argument("--runs", type=number, default=4, help="ensemble size [%(default)s]")
    parser.add_argument("--steps", type=number, default=3000, help="optimizer steps per run [%(default)s]")
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto [%(default)s]")


DERIVATIVE = "forward"
"""How the demo estimates dx/dt: the paper's choice, which is not fittest fit's default (the demo says so)."""

OUTPUTS = ("run.nc", "report")
"""What the demo writes into its folder; a folder holding any of them is refused, never overwritten."""


def run(args: argparse.Namespace) -> int:
    import dynamics
    import training
    from dynamics import catalog
    from fittest.atomic import check_free_space, output_folder, write_netcdf
    from fittest.errors import InputError
    from training.config import output_estimate

    config = training.TrainConfig(p=args.p, d=args.d, runs=args.runs, steps=args.steps, device=args.device)
    out = output_folder(args.out, create=False)  # fail before training, make it once there is a result
    present = [name for name in OUTPUTS if (out / name).exists()]
    if present:
        raise InputError(
            f"{str(out)!r} already holds a demo's {' and '.join(present)}: choose another --out, or delete them"
        )
    check_free_space(out, output_estimate(config), what="demo's run dataset")
    print(f"training {config.runs} models (p={config.p}, d={config.d}) for {config.steps} steps")
    ds = training.train(config)
    run_path = write_netcdf(ds, output_folder(out) / "run.nc")

    alive = training.survivors(ds)
    counts = alive.sum("frequency").values.tolist()
    test_acc = ds["test_acc"].isel(step=-1).values
    print(f"final test accuracy per run: {', '.join(f'{a:.3f}' for a in test_acc)}")
    for r, row in enumerate(alive.values):
        print(f"run {r}: {counts[r]} surviving circles at k = {ds.frequency.values[row].tolist()}")

    window = (0, min(1000, int(ds.step.max())))
    # Forward differences, as the paper: its ODE models the per-step increments x[t+1] - x[t] of a discrete map
    # (docs/background.md). fittest fit defaults to central differences, so the line says how to get these numbers.
    print(
        f"fitting dx/dt as forward differences x[t+1] - x[t], as the paper does; fittest fit defaults to"
        f" --derivative {catalog.DEFAULT_DERIVATIVE}: add --derivative {DERIVATIVE} to reproduce these numbers"
    )
    fits = [dynamics.fit(ds, model=model, t_range=window, derivative=DERIVATIVE) for model in ("linear", "lasso")]
    for fitted in fits:
        r2 = float(fitted.r2_derivative.median())
        print(f"{fitted.model}: median R² of dx/dt over steps {window[0]}-{window[1]}: {r2:.4f}")
    files = dynamics.write_report(
        fits,
        out / "report",
        data=ds,
        highlight=alive,
        highlight_label="survivor",
        title="fittest demo: linear and Lasso ODEs",
        source=run_path,
        command=getattr(args, "_command_line", None),
    )
    print(f"report: {files['html']}")
    print(f"run dataset: {run_path}")
    return 0
