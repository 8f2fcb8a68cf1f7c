"""The attention picture for exercise 02: "The cat sat on the mat", six fixed embeddings."""

import torch

from tutor.kit import captured_softmax, fixed_parameters

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]

# The lesson's names for the steps the shape trace records.
STEPS = [
    "Q = x W_q",
    "K = x W_k",
    "V = x W_v",
    "scores = Q K^T",
    "weights = softmax",
    "output = weights V",
]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "weights_times_input.py": "the weights are right; only the values they weigh are wrong",
    "no_transpose.py": "fails with a shape error before any softmax (T != C here)",
    "no_softmax.py": "no softmax runs, so nothing is captured (the pane says so)",
}


def weights(problem):  # type: ignore[no-untyped-def]
    module = fixed_parameters(problem.SimpleAttention(n_embd=8))
    x = torch.randn(1, len(TOKENS), 8, generator=torch.Generator().manual_seed(2)) * 0.7
    return captured_softmax(lambda: module(x))
