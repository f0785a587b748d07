"""The engine: what runs a model at play time. Codecs (note events, piano roll), the model
card, the onnxruntime step model, sessions with their rolling context, sampling constraints.

Imports numpy, onnxruntime and the standard library only: never torch, the daemon or
training, so the runtime install stays small.
"""
