"""How much to compute for each figure: the paper's counts, or a quick version for a 2-core CPU.

A :class:`Profile` holds every count a figure script reads (steps, trials, the values swept). ``paper`` has
the paper's numbers (appendix E and the figure captions) and is meant for a GPU; ``quick`` keeps the shape
of every experiment but with few seeds and steps, so that all figures together finish in minutes on a CPU.
Tests build smaller profiles still with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses

from fittest.errors import InputError
from training import is_prime


def _primes(lo: int, hi: int) -> tuple[int, ...]:
    return tuple(n for n in range(lo, hi + 1) if is_prime(n))


@dataclasses.dataclass(frozen=True)
class Profile:
    """The counts behind every figure.

    Arguments:
        name: how the profile is called on the command line and in the JSON.
        steps: optimizer steps of every training run.
        runs: runs of one ensemble with a fixed embedding (random MLPs and splits): the default ensemble at
            p = 59, d = 128 behind figures 2, 3, 7, 9, 13, 15 and 16, and each embedding of figure 6 (left).
        embeddings: how many fixed embeddings figure 6 (left) and figure 7 pool.
        sweep_runs: trials per value of p, d or weight decay (figures 4, 5, 9 left, 10, 14).
        primes: the moduli of figure 5 (left), at d = 128.
        dims: the embedding dimensions of figure 5 (right) and figure 9 (left), at p = 59.
        frozen_dims: the embedding dimensions of figure 4 (frozen embedding).
        frozen_steps: optimizer steps of figure 4's runs.
        weight_decays: the weight decays of figure 10.
        weight_decay_p: the modulus of figure 10.
        moduli: the moduli of figure 14 (prime and not).
        perturb_factors: the factors applied to one frequency's Fourier coefficient in figure 6 (middle).
        perturb_embeddings: how many embeddings figure 6 (middle) perturbs.
        construct_ratios: the ratios r of the second constructed signal to the first in figure 6 (right).
        intervention_runs: trials per perturbed or constructed embedding (figure 6) and per ablation
            (figures 8 and 12).
        circularity_samples: random embeddings per dimension in figure 11 (left).
        circularity_dims: the dimensions of figure 11 (left).
        p: the modulus of the default ensemble and of the sweeps over d (the paper: 59).
        d: the embedding dimension of the default ensemble and of the sweeps over p (the paper: 128).
        ode_window: the steps the ODEs of figures 9, 15 and 16 are fitted on (the paper: 0 to 1000).
        lasso_alpha: the Lasso penalty of figures 9, 15 and 16.
        device: where to train (``"auto"`` takes the GPU when there is one).
    """

    name: str
    steps: int
    runs: int
    embeddings: int
    sweep_runs: int
    primes: tuple[int, ...]
    dims: tuple[int, ...]
    frozen_dims: tuple[int, ...]
    frozen_steps: int
    weight_decays: tuple[float, ...]
    weight_decay_p: int
    moduli: tuple[int, ...]
    perturb_factors: tuple[float, ...]
    perturb_embeddings: int
    construct_ratios: tuple[float, ...]
    intervention_runs: int
    circularity_samples: int
    circularity_dims: tuple[int, ...]
    p: int = 59
    d: int = 128
    ode_window: tuple[int, int] = (0, 1000)
    lasso_alpha: float = 0.01
    device: str = "auto"

    def __post_init__(self):
        for field in (
            "steps",
            "runs",
            "embeddings",
            "sweep_runs",
            "frozen_steps",
            "perturb_embeddings",
            "intervention_runs",
            "circularity_samples",
        ):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"profile {self.name!r}: {field} must be a positive integer, got {value!r}")
        if self.runs < 2:
            raise InputError(f"profile {self.name!r}: runs must be at least 2 to estimate a survival rate")

    def to_dict(self) -> dict:
        """The profile as plain JSON-ready values."""
        return dataclasses.asdict(self)


PAPER = Profile(
    name="paper",
    steps=30_000,
    runs=50,
    embeddings=10,
    sweep_runs=100,
    primes=_primes(17, 97),
    dims=(16, 32, 48, 64, 80, 96, 112, 128),
    frozen_dims=(4, 8, 12, 16, 20, 24, 32, 40, 48, 56, 59, 64, 72, 80, 96, 112, 128, 160, 200),
    frozen_steps=30_000,
    weight_decays=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
    weight_decay_p=59,
    moduli=tuple(range(17, 98)),
    perturb_factors=(0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
    perturb_embeddings=3,
    construct_ratios=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    intervention_runs=50,
    circularity_samples=50,
    circularity_dims=(2, 4, 8, 16, 32, 59, 64, 128, 256, 512),
)

QUICK = Profile(
    name="quick",
    steps=1000,
    runs=6,
    embeddings=2,
    sweep_runs=3,
    primes=(17, 23, 31, 41, 59),
    dims=(16, 32, 64, 128),
    frozen_dims=(8, 24, 48, 59, 96, 128),
    frozen_steps=500,
    weight_decays=(0.0, 0.1, 0.3, 0.5, 1.0, 2.0),
    weight_decay_p=31,
    moduli=(12, 15, 16, 17, 20, 21, 23, 25, 27, 28, 31, 32),
    perturb_factors=(0.25, 1.0, 4.0),
    perturb_embeddings=1,
    construct_ratios=(0.0, 0.5, 1.0),
    intervention_runs=3,
    circularity_samples=20,
    circularity_dims=(2, 4, 8, 16, 32, 59, 64, 128, 256),
)

PROFILES: dict[str, Profile] = {profile.name: profile for profile in (QUICK, PAPER)}


def get_profile(profile: str | Profile) -> Profile:
    """A profile by name (``"quick"`` or ``"paper"``), or the :class:`Profile` given.

    Raises:
        InputError: the name is not a known profile.
    """
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise InputError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}") from None
