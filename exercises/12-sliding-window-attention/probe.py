"""The attention picture for exercise 12: a window of 3 sliding along a nine-word sentence.

Each word may look at itself and the two words before it, so the weights form a band three
keys wide just left of (and on) the diagonal; everything outside the band must be zero.
"""

import torch

TOKENS = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
CAUSAL = True
WINDOW = 3

# The lesson's names for the steps the shape trace records.
STEPS = ["scores = q k^T", "masked scores", "weights = softmax", "output = weights v"]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT: dict[str, str] = {}


def weights(problem):  # type: ignore[no-untyped-def]
    generator = torch.Generator().manual_seed(12)
    q, k, v = (torch.randn(1, len(TOKENS), 4, generator=generator) * 0.8 for _ in range(3))
    _, w = problem.sliding_window_attention(q, k, v, WINDOW)
    return w
