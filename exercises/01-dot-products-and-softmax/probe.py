"""The attention picture for exercise 01: your softmax of your dot_scores on fixed q and k.

Six queries and six keys of six features ("The cat sat on the mat"). Feature 0 of every key
is 1, so feature 0 of a query shifts its whole row of scores: a softmax does not care, but
the row of "mat" sits near -100, where an exp with no max subtracted (or one shifted by
the whole tensor's max) underflows into rounding noise. Feature 1 marks the key "mat",
which every other query scores low, so that a max broadcast along the wrong axis still
stays finite. The scores get a trailing axis of size 1 and the softmax runs over dim=1,
the keys, so a softmax that ignores dim shows up too.
"""

import torch

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]

# The lesson's names for the steps the shape trace records (your softmax is built from
# element-wise operations, which the trace does not follow).
STEPS = ["scores = Q K^T"]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "softmax_subtracts_mean.py": "on finite scores a shift by the mean gives the right weights; "
    "it fails on -inf or on a huge spread, whose NaN rows match nothing",
    "softmax_calls_torch.py": "torch.softmax gives the right weights; only the rule is broken",
    "dot_scores_dot_T.py": "on 2-D keys .T is the same as transpose(-2, -1)",
}


def weights(problem):  # type: ignore[no-untyped-def]
    n, last = len(TOKENS), len(TOKENS) - 1
    generator = torch.Generator().manual_seed(1)
    q = torch.randn(n, 6, generator=generator) * 0.8
    k = torch.randn(n, 6, generator=generator) * 0.8
    k[:, 0], k[:, 1] = 1.0, 0.0
    k[last, 1] = 1.0  # feature 1 picks out the key "mat"
    q[:, 0] = torch.tensor([0.5, -1.0, 0.0, 1.0, -0.5, -101.0])  # shifts of whole rows
    q[:, 1] = -14.0  # every other query scores the key "mat" low
    q[last, 1] = 0.0
    scores = problem.dot_scores(q, k)  # (Tq, Tk)
    return problem.softmax(scores[..., None], dim=1)[..., 0]
