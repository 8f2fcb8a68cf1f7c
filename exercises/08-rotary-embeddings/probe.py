"""The attention picture for exercise 08: rotary positions on "The cat sat on the mat".

Every query and every key is one shared content vector plus a small token-specific part,
so the picture is mostly about position: with RoPE on both queries and keys, q . k depends
on the distance between tokens, and the weights form stripes along the diagonal (each
token looks most at itself and its neighbours). Each mistake in the angles bends those
stripes its own way. head_dim = 8: four pairs turning at four different speeds.
"""

import torch

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]

# The lesson's names for the steps the shape trace records (the rotation keeps the shape,
# so the trace does not show it).
STEPS = ["scores = q_rot k_rot^T", "weights = softmax", "output = weights v"]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "values_rotated.py": "the weights are right; only the values they weigh are wrong",
    "offset_ignored.py": "q and k always share the offset, and with both rotated the weights "
    "depend only on the distance between tokens: no offset can change them",
}


def weights(problem):  # type: ignore[no-untyped-def]
    head_dim, length = 8, len(TOKENS)
    generator = torch.Generator().manual_seed(9)
    content = 1.5 * torch.randn(head_dim, generator=generator)
    q = content + 0.3 * torch.randn(1, 1, length, head_dim, generator=generator)
    k = content + 0.3 * torch.randn(1, 1, length, head_dim, generator=generator)
    v = torch.randn(1, 1, length, head_dim, generator=generator)
    cos, sin = problem.rope_frequencies(head_dim, max_len=16)
    _, w = problem.rope_attention(q, k, v, cos, sin)
    return w
