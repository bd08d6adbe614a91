"""Figure 3: a trained embedding projected on its first principal components and on its Fourier planes.

Top: the first 10 principal components in pairs. Bottom: the planes of the five frequencies with the largest
signal. Each panel links tokens n and n + 1; for the Fourier plane of frequency k the step between
neighbours on the circle is Delta = k^-1 mod p. The JSON says how pure each PCA pair is: the share of its
variance that its best frequency explains (1 for a perfect circle of one frequency).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import default_config, default_ensemble, new_figure
from training import TrainConfig, circle_plane, circularity, coefficients

TITLE = "PCA vs Fourier projections of a trained embedding"
CLAIM = (
    "only the first ~10 principal components have significant singular values; Fourier planes show clean "
    "circles while PCA pairs are a loose approximation of them"
)

PAIRS = 5


def frequency_shares(points: np.ndarray) -> np.ndarray:
    """Share of the variance of ``points`` (p, m) carried by each circle k = 1 .. (p-1)//2 (k and p-k together)."""

    p = points.shape[0]
    power = np.abs(coefficients(points - points.mean(0))) ** 2  # (p, m)
    K = (p - 1) // 2
    per_k = power[1 : K + 1].sum(-1) + power[p - K :][::-1].sum(-1)
    return per_k / power.sum()


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensemble the figure draws from: the default one."""
    return [default_config(ctx)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""

    ds = default_ensemble(ctx)
    E = ds.embedding.isel(run=0, snapshot=-1).values
    p = E.shape[0]
    centred = E - E.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    pcs = centred @ vt[: 2 * PAIRS].T
    amplitude = ds.amplitude.isel(run=0, step=-1).values
    ks = ds.frequency.values[np.argsort(amplitude)[::-1][:PAIRS]]
    circ = circularity(E)

    figure, axes = new_figure(PAIRS, 2, width=2.6, height=2.7)
    pca_best, pca_share = [], []
    for i in range(PAIRS):
        pts = pcs[:, 2 * i : 2 * i + 2]
        shares = frequency_shares(pts)
        pca_best.append(int(np.argmax(shares) + 1))
        pca_share.append(float(shares.max()))
        ax = axes[0, i]
        ax.plot(*np.vstack([pts, pts[:1]]).T, color="0.8", lw=0.6)
        ax.scatter(pts[:, 0], pts[:, 1], c=np.arange(p), cmap="twilight", s=10)
        ax.set(
            aspect="equal",
            xticks=[],
            yticks=[],
            title=f"PC {2 * i + 1}-{2 * i + 2}: {shares.max():.0%} k={pca_best[-1]}",
        )
    deltas = []
    for i, k in enumerate(ks):
        pts = circle_plane(E, int(k))
        delta = pow(int(k), -1, p) if np.gcd(int(k), p) == 1 else None
        deltas.append(delta)
        ax = axes[1, i]
        ax.plot(*np.vstack([pts, pts[:1]]).T, color="0.8", lw=0.6)
        ax.scatter(pts[:, 0], pts[:, 1], c=np.arange(p), cmap="twilight", s=10)
        ax.set(aspect="equal", xticks=[], yticks=[], title=f"Fourier k={k}, Δ={delta}")
    figure.suptitle("run 0 at the last step: PCA pairs (top) and Fourier planes by signal (bottom)")

    variance = singular**2 / (singular**2).sum()
    numbers = {
        "variance_share_first_10_pcs": float(variance[:10].sum()),
        "singular_values": singular[:20],
        "pca_pairs": {"best_frequency": pca_best, "share_of_best_frequency": pca_share},
        "fourier": {"frequency": ks, "delta": deltas, "circularity": circ[ks - 1]},
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
