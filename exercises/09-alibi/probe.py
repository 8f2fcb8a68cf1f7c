"""The attention picture for exercise 09: ALiBi's four heads on "The cat sat on the mat".

The queries and keys are small (scale 0.5), so the distance penalty is clearly visible: head 1
(slope 1/4) leans on the nearest tokens, head 4 (slope 1/256) hardly sees the bias at all.
"""

import torch

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]
CAUSAL = True

# The lesson's names for the steps the shape trace records (adding the bias keeps the
# shape, so the trace does not show it).
STEPS = ["scaled scores = q k^T", "causal mask", "weights = softmax", "output = weights v"]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "signed_distance.py": (
        "i - j equals |i - j| for every key the causal mask keeps, so the weights are right"
    ),
}


def weights(problem):  # type: ignore[no-untyped-def]
    n_head, head_dim = 4, 4
    generator = torch.Generator().manual_seed(9)
    q, k, v = (
        torch.randn(1, n_head, len(TOKENS), head_dim, generator=generator) * 0.5 for _ in range(3)
    )
    _, w = problem.alibi_attention(q, k, v)
    return w
