"""The attention picture for exercise 14: the block's second pass over "The cat sat on the mat".

The block (fixed weights) runs on six embeddings, then again on its own output, as the second
layer of a two-block stack. The picture shows the second pass's attention: it reads what the
first pass handed on, so a mistake in the residuals, the LayerNorms or the MLP changes it too,
not only a mistake in the attention itself.
"""

import torch

from tutor.kit import captured_softmax, fixed_parameters

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]
CAUSAL = True

# The lesson's names for the steps the shape trace records, for both passes through the
# block (the LayerNorms, GELU and residual additions keep the shape and are not traced).
PASS_STEPS = [
    "Q = ln1(x) W_q",
    "K = ln1(x) W_k",
    "V = ln1(x) W_v",
    "scores = Q K^T",
    "masked scores",
    "weights = softmax",
    "per-head output",
    "merged, projected",
    "MLP, widened",
    "MLP, narrowed",
]
STEPS = [f"pass {n}: {name}" for n in (1, 2) for name in PASS_STEPS]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "mask_not_sliced.py": "the forward raises for T < block_size: nothing is captured",
}


def weights(problem):  # type: ignore[no-untyped-def]
    block = fixed_parameters(problem.TransformerBlock(n_embd=8, n_head=2, block_size=8))
    x = torch.randn(1, len(TOKENS), 8, generator=torch.Generator().manual_seed(14)) * 0.7
    hidden = block(x)  # the first pass: what the second block reads
    return captured_softmax(lambda: block(hidden))
