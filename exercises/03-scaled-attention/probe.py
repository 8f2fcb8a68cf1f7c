"""The attention picture for exercise 03: scaled weights on "The cat sat on the mat".

The sizes are all different (d_k = 4, d_v = 5, six keys), so dividing by d_k, by sqrt(d_v)
or by sqrt(Tk) each gives its own picture.
"""

import torch

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]

# The lesson's names for the steps the shape trace records (the division by sqrt(d_k) keeps
# the shape, so the trace does not show it).
STEPS = ["scores = Q K^T", "weights = softmax(scaled)", "output = weights V"]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT: dict[str, str] = {}


def weights(problem):  # type: ignore[no-untyped-def]
    generator = torch.Generator().manual_seed(3)
    q = torch.randn(1, len(TOKENS), 4, generator=generator) * 1.2
    k = torch.randn(1, len(TOKENS), 4, generator=generator) * 1.2
    v = torch.randn(1, len(TOKENS), 5, generator=generator)
    _, w = problem.scaled_dot_product_attention(q, k, v)
    return w[0]
