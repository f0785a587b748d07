"""Fitting models: the one training loop (`loop.py`), checkpoints that carry their config,
data-parallel training under torchrun, and the pipelines from data to a measured checkpoint
(tokens, piano-roll frames, small models). `train_config.py` holds `TrainConfig` and
each training command's settings, torch-free, for the CLI's defaults.

May import the engine, torch and the other training rooms; never the daemon.
"""
