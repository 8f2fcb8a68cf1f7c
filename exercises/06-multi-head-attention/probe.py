"""The attention picture for exercise 06: every head on "The cat sat on the mat"."""

import torch

from tutor.kit import fixed_parameters

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]

# The lesson's names for the steps the shape trace records.
STEPS = [
    "Q = x W_q",
    "K = x W_k",
    "V = x W_v",
    "scores = Q_h K_h^T",
    "weights = softmax",
    "per-head = weights V",
    "output = proj(merged)",
]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "no_output_projection.py": "the weights are right; only the output is wrong",
    "merge_without_transpose.py": "the weights are right; only the output is wrong",
    "keys_not_transposed.py": "fails with a shape error before any weight is formed",
}


def weights(problem):  # type: ignore[no-untyped-def]
    module = fixed_parameters(problem.MultiHeadAttention(n_embd=12, n_head=3))
    _, w = module(torch.randn(1, len(TOKENS), 12, generator=torch.Generator().manual_seed(6)))
    return w
