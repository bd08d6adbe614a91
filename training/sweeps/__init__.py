"""Sweeps: many training experiments as one resumable job on a dask.distributed cluster.

- :mod:`training.sweeps.spec`: a sweep's description, a base config and the axes it varies (TOML);
- :mod:`training.sweeps.tasks`: its points grouped into tasks, one ensemble each, named by their config's hash;
- :mod:`training.sweeps.store`: the zarr store, one group per task with its completion mark, and
  :func:`~training.sweeps.store.open_sweep`;
- :mod:`training.sweeps.run`: :func:`~training.sweeps.run.sweep`, which runs the tasks on a cluster.

The public names are in :mod:`training`; this package imports nothing by itself.
"""
