"""When to record: every step up to ``dense_until``, then a stride or log spacing, always the last step.

(When to store whole snapshots is the config's own ``snapshot_steps`` field.)
"""

from __future__ import annotations

import numpy as np

from training.config import TrainConfig


def record_steps(config: TrainConfig) -> np.ndarray:
    """The sorted steps at which a record is taken; a record at step s is the state after s updates.

    Every step ``0 .. dense_until`` (the ODE fits and gradient measures use these), then every
    ``record_every`` steps or ``log_records`` log-spaced steps, and always ``steps`` itself.
    """
    dense_end = min(config.dense_until, config.steps)
    dense = np.arange(dense_end + 1)
    if config.record_spacing == "stride":
        later = np.arange(dense_end + config.record_every, config.steps + 1, config.record_every)
    else:
        later = np.geomspace(max(dense_end, 1), config.steps, config.log_records + 1)
        later = np.rint(later).astype(np.int64)
        later = later[later > dense_end]
    return np.unique(np.concatenate([dense, later, [config.steps]])).astype(np.int64)
