"""What a figure script is handed: the profile, and a way to get trained ensembles through the cache."""

from __future__ import annotations

import dataclasses

import xarray as xr

from paper_figures.cache import RunCache
from paper_figures.profiles import Profile


@dataclasses.dataclass
class Context:
    """The profile and the run cache one figure is made with.

    Arguments:
        profile: the counts to use.
        cache: where trained ensembles are kept.
    """

    profile: Profile
    cache: RunCache

    def config(self, **fields):
        """A ``training.TrainConfig`` with the profile's steps and device unless ``fields`` say otherwise."""
        import training

        fields.setdefault("steps", self.profile.steps)
        fields.setdefault("device", self.profile.device)
        return training.TrainConfig(**fields)

    def train(self, **fields) -> xr.Dataset:
        """The run dataset of ``self.config(**fields)``, trained once and then read from the cache."""
        return self.cache.get(self.config(**fields))
