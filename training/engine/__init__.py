"""The torch room: the model, the optimizer, the recorders, the training loop, checkpoints, stored-model replay.

Its public names (``train``, ``snapshot_metrics``, ``ablated_metrics``, ...) are re-exported by :mod:`training`.
"""
