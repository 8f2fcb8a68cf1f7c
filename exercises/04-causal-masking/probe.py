"""The attention picture for exercise 04: causal weights on "The cat sat on the mat"."""

import torch

from tutor.kit import fixed_parameters

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]
CAUSAL = True

# The lesson's names for the steps the shape trace records.
STEPS = [
    "Q = x W_q",
    "K = x W_k",
    "V = x W_v",
    "scores = Q K^T",
    "masked (-inf ahead)",
    "weights = softmax",
    "output = weights V",
]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "mask_not_a_buffer.py": "the weights are right; only how the mask is stored is wrong",
    "mask_not_sliced.py": "the forward raises for T < block_size: nothing is captured",
}


def weights(problem):  # type: ignore[no-untyped-def]
    module = fixed_parameters(problem.CausalSelfAttention(n_embd=8, block_size=8))
    _, w = module(torch.randn(1, len(TOKENS), 8, generator=torch.Generator().manual_seed(4)))
    return w
