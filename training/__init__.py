"""Offline training with PyTorch, kept out of the runtime install (the `train` extra).

    data/          corpus import, benchmarks, splits, token and roll datasets
    families/      one file per model family (config dataclass, modules, step function)
    fit/           the one training loop, checkpoints, distributed, the pipelines
    evaluation/    held-out NLL, count baselines, the model table, training benchmarks
    export.py      ONNX export with its parity check
    quantize.py    an int8 copy of an exported step graph, checked on held-out NLL
    commands.py    what `antiphon train|export|eval` do, behind the CLI
    bridge.py      `antiphon bridge`: an LSTM-VAE walks from one phrase to another

Never imports antiphon.daemon; data/ imports no other room, families/ only data/.
"""
