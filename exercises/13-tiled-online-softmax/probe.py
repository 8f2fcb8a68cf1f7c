"""The attention picture for exercise 13: the weights the online softmax builds, block by block.

The tiled loop never forms the weights, so the probe passes the identity matrix as the values
(one value per key, d_v = number of keys): each output row is then exactly that query's row of
weights. Keys come in blocks of 4, so "the" and "mat" form the last, shorter block.
"""

import torch

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]
BLOCK_SIZE = 4

# The lesson's names for the steps the shape trace records: two products per block of keys
# (everything else in the loop is element-wise).
STEPS = [f"block {block}: {name}" for block in (1, 2) for name in ("s = q k^T", "p @ v_block")]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "full_matrix_and_softmax.py": "the weights are right; only how they are computed is wrong",
    "block_max_instead_of_running_max.py": (
        "exact for moderate scores: it only overflows when the scores are huge"
    ),
    "running_max_starts_at_zero.py": (
        "exact for moderate scores: it only underflows when every score is very negative"
    ),
}


def weights(problem):  # type: ignore[no-untyped-def]
    generator = torch.Generator().manual_seed(13)
    q, k = (torch.randn(1, len(TOKENS), 4, generator=generator) for _ in range(2))
    identity = torch.eye(len(TOKENS)).unsqueeze(0)  # (1, Tk, Tk): value j is one-hot at j
    return problem.online_softmax_attention(q, k, identity, BLOCK_SIZE)
