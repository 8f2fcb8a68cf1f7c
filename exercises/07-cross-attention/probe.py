"""The attention picture for exercise 07: English queries reading a French context.

x is "The cat sat on the mat" (six tokens, d_model = 8); the context is its translation
"Le chat s'est assis sur le tapis" (seven tokens, d_context = 6); d_head = 4. With every
size different, queries made from the context change the picture's shape, and a scale by
sqrt(d_model) differs from one by sqrt(d_head).
"""

import torch

from tutor.kit import fixed_parameters

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]
KEYS = ["Le", "chat", "s'est", "assis", "sur", "le", "tapis"]

# The lesson's names for the steps the shape trace records.
STEPS = [
    "q = x W_q",
    "k = context W_k",
    "v = context W_v",
    "scores = q k^T",
    "weights = softmax",
    "attended = weights v",
    "output = proj(attended)",
]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "keys_from_x.py": "6 keys from x against 7 values from the context: the forward raises",
    "values_from_x.py": "6 values from x for 7 weights per row: the forward raises "
    "(and where it runs, the weights are right; only the output is wrong)",
}


def weights(problem):  # type: ignore[no-untyped-def]
    module = fixed_parameters(problem.CrossAttention(d_model=8, d_context=6, d_head=4))
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(1, len(TOKENS), 8, generator=generator) * 0.8
    context = torch.randn(1, len(KEYS), 6, generator=generator) * 0.8
    _, w = module(x, context)
    return w
