"""The CUDA step (IO binding, state kept on the GPU) against the CPU step, for every
shipped model: same inputs, same samples, logits within 1e-4. Runs only where onnxruntime
can use a CUDA GPU (the lent GPU machine), never on CI."""

from __future__ import annotations

import numpy as np
import pytest

from antiphon.engine.model import StepModel, cuda_usable
from antiphon.exported_models import available_models, model_path

pytestmark = pytest.mark.skipif(not cuda_usable(), reason="no usable CUDA GPU here")


@pytest.mark.parametrize("name", available_models())
def test_cuda_steps_like_the_cpu(name):
    cpu = StepModel(model_path(name), device="cpu")
    gpu = StepModel(model_path(name), device="cuda")
    assert gpu.io_binding and gpu.session.get_providers()[0] == "CUDAExecutionProvider"
    vocab = cpu.card.vocab_size
    rng = np.random.default_rng(0)
    bias = np.zeros(vocab, np.float32)
    cpu_state, gpu_state = cpu.initial_state(), gpu.initial_state()
    frames = cpu.card.representation == "pianoroll"
    given = np.zeros((1, vocab), np.float32) if frames else 0
    worst = 0.0
    for _ in range(100):
        uniform = rng.random((1, vocab), dtype=np.float32)
        step = "step_frame" if frames else "step"
        a, cpu_logits, cpu_state = getattr(cpu, step)(given, cpu_state, 1.0, uniform, bias)
        b, gpu_logits, gpu_state = getattr(gpu, step)(given, gpu_state, 1.0, uniform, bias)
        assert np.array_equal(a, b)
        worst = max(worst, float(np.abs(cpu_logits - gpu_logits).max()))
        given = a
    print(f"{name}: max |logit cpu - cuda| {worst:.2e} over 100 steps")
    assert worst < 1e-4
