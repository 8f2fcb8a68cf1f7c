"""The attention picture for exercise 11: all four query heads on "The cat sat on the mat".

Four query heads share two key/value heads: heads 1 and 2 read kv head 1, heads 3 and 4 read
kv head 2, so each pair scores the same keys with different queries.
"""

import torch

from tutor.kit import fixed_parameters

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]

# The lesson's names for the steps the shape trace records.
STEPS = [
    "Q = x W_q",
    "K = x W_k (kv heads)",
    "V = x W_v (kv heads)",
    "scores = Q K^T",
    "weights = softmax",
    "per-head outputs",
    "output = proj(merged)",
]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "heads_merged_without_transpose.py": "the weights are right; only the output is wrong",
    "no_output_projection.py": "the weights are right; only the output is wrong",
}


def weights(problem):  # type: ignore[no-untyped-def]
    module = fixed_parameters(problem.GroupedQueryAttention(n_embd=12, n_head=4, n_kv_head=2))
    x = torch.randn(1, len(TOKENS), 12, generator=torch.Generator().manual_seed(11)) * 0.5
    _, w = module(x)
    return w
