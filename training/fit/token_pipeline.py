"""From corpus names to a trained, measured checkpoint: what `antiphon train` runs.

corpus import -> split by piece -> tokens -> count baselines -> train -> test metrics.
The baselines and the test figures are written into the best checkpoint, so the
exported model's card carries them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn

from antiphon.engine.codec import EventCodec
from antiphon.training.data.corpus import import_corpus, split_pieces
from antiphon.training.data.prepared import load_prepared
from antiphon.training.data.tokens import TokenSplit, encode_pieces
from antiphon.training.evaluation.token_baselines import bigram_nll, unigram_nll
from antiphon.training.fit.checkpoint import add_test_metrics
from antiphon.training.fit.distributed import is_main_process
from antiphon.training.fit.loop import EpochReport, evaluate, train
from antiphon.training.fit.train_config import TrainConfig

log = logging.getLogger(__name__)


def prepare_splits(
    sources: Sequence[str],
    midi_dirs: Sequence[Path],
    codec: EventCodec,
    workers: int | None = None,
    limit: int | None = None,
    cache_dir: Path | None = None,
) -> tuple[dict[str, TokenSplit], dict]:
    """Token splits of the corpora, and a description of the data for the model card."""
    imported = import_corpus(sources, midi_dirs, cache_dir=cache_dir, workers=workers,
                             limit=limit)
    by_split = split_pieces(imported.pieces)
    for name, pieces in by_split.items():
        if not pieces:
            raise ValueError(f"the corpus gives no {name} pieces; add more music")
    splits = {name: encode_pieces([p.events for p in pieces], codec)
              for name, pieces in by_split.items()}
    data = {
        "sources": list(sources) + [f"midi:{Path(d).name}" for d in midi_dirs],
        "pieces": {name: len(pieces) for name, pieces in by_split.items()},
        "tokens": {name: len(split) for name, split in splits.items()},
        "split": "by a hash of the piece id: 90% train, 5% valid, 5% test",
        "augmentation": "random transposition per training window",
        "skipped_files": sum(len(report.skipped) for report in imported.reports),
    }
    return splits, data


def count_baselines(splits: dict[str, TokenSplit], vocab: int) -> dict[str, float]:
    return {
        "test_unigram_nll_per_token": unigram_nll(splits["train"], splits["test"], vocab),
        "test_bigram_nll_per_token": bigram_nll(splits["train"], splits["test"], vocab),
    }


def train_token_model(
    run_dir: str | Path,
    sources: Sequence[str],
    midi_dirs: Sequence[Path],
    model_config: dict,
    config: TrainConfig,
    workers: int | None = None,
    limit: int | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    cache_dir: Path | None = None,
    family: str = "recurrent",
    prepared: Path | None = None,
) -> tuple[Path, dict]:
    """Train a token `family` model ("recurrent" or "transformer") in `run_dir`, on the
    corpora and folders named or on a `prepared` folder (memory-mapped, `antiphon prepare`).

    Returns the best checkpoint and its metrics (test included).
    """
    codec = EventCodec()
    if prepared is not None:
        splits, summary = load_prepared(prepared)
        data = {"sources": [summary["source"]], "pieces": summary["pieces"],
                "tokens": summary["tokens"], "prepared": str(prepared),
                "split": "by a hash of the piece id: 90% train, 5% valid, 5% test",
                "augmentation": "random transposition per training window",
                "skipped_files": len(summary["skipped"])}
    else:
        splits, data = prepare_splits(sources, midi_dirs, codec, workers, limit, cache_dir)
    log.info("tokens: %s", data["tokens"])
    baselines = count_baselines(splits, codec.vocab_size)
    best = train(run_dir, codec, splits, model_config, config, data=data,
                 baselines=baselines, on_epoch=on_epoch, family=family)
    if not is_main_process():
        return best, {}  # a torchrun worker: rank 0 scores and reports

    def score(model: nn.Module) -> dict[str, float]:
        test_nll, test_accuracy = evaluate(model.to(config.device), splits["test"],
                                           config.device, config.eval_batch)
        return {"test_nll_per_token": test_nll, "test_accuracy": test_accuracy}

    return best, add_test_metrics(best, score)



def train_token_model_on_benchmark(
    path: str | Path, run_dir: str | Path, model_config: dict, config: TrainConfig,
    family: str = "recurrent",
) -> tuple[Path, dict]:
    """Train a token family on a piano-roll benchmark (`.mat` / `.json`), its rolls
    serialised into event tokens (`roll_tokens`); the test figure is in nats per frame,
    beside the per-key floors, as the frame families report it."""
    # Imported here: the benchmark modules are only needed by this path.
    from antiphon.training.data.benchmarks import frames_per_beat, load_benchmark
    from antiphon.training.data.roll_tokens import nll_per_frame, roll_token_splits
    from antiphon.training.evaluation.frame_baselines import baseline_nlls

    path = Path(path)
    codec = EventCodec()
    rolls = load_benchmark(path)
    splits = roll_token_splits(rolls, codec, frames_per_beat(path))
    floors = baseline_nlls(rolls["train"], rolls["test"])
    baselines = {f"test_{name}_nll_per_frame": value for name, value in floors.items()}
    data = {"benchmark": path.name, "frames_per_beat": frames_per_beat(path),
            "pieces": {name: len(split) for name, split in rolls.items()},
            "frames": {name: sum(len(r) for r in split) for name, split in rolls.items()},
            "tokens": {name: len(split) for name, split in splits.items()},
            "representation": "rolls serialised as event tokens (training.roll_tokens)",
            "augmentation": f"random transposition {tuple(config.transpose)} per window"}
    log.info("tokens: %s", data["tokens"])
    best = train(run_dir, codec, splits, model_config, config, data=data,
                 baselines=baselines, family=family)
    if not is_main_process():
        return best, {}  # a torchrun worker: rank 0 scores and reports

    def score(model: nn.Module) -> dict[str, float]:
        test_nll, test_accuracy = evaluate(model.to(config.device), splits["test"],
                                           config.device, config.eval_batch)
        return {"test_nll_per_token": test_nll, "test_accuracy": test_accuracy,
                "test_nll_per_frame": nll_per_frame(test_nll, splits["test"],
                                                    data["frames"]["test"])}

    return best, add_test_metrics(best, score)
