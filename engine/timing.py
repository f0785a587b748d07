"""Timing the engine's hot operations: percentiles of many calls, with the garbage
collector off while timing, as it is kept off the hot paths while playing. Used by
`antiphon bench` for onnxruntime and for the torch eager comparison alike."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

STEP_WARMUP = 200  # calls before timing: lets onnxruntime settle its allocations


@dataclass(frozen=True)
class Latency:
    """Percentiles of one timed operation, in milliseconds."""

    p50: float
    p99: float
    max: float
    count: int

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = np.asarray(seconds) * 1e3
        return cls(float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
                   float(ms.max()), len(ms))


def time_calls(call: Callable[[], object], count: int, warmup: int = STEP_WARMUP) -> Latency:
    """Latency of `call`, with the garbage collector off while timing (as while playing)."""
    for _ in range(warmup):
        call()
    seconds = []
    gc.disable()
    try:
        for _ in range(count):
            began = time.perf_counter()
            call()
            seconds.append(time.perf_counter() - began)
    finally:
        gc.enable()
    return Latency.of(seconds)
