"""Held-out figures: NLL of token and frame models (checkpoints through torch, exports
through the engine), the count baselines that set the floors, docs/MODELS.md, and
`antiphon bench train` / the torch side of `bench engine`.

May import the engine, torch and the other training rooms; never the daemon.
"""
