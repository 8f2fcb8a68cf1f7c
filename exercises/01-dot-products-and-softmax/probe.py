"""The attention picture for exercise 01: your softmax of your dot_scores on fixed q and k.

Six queries and keys of six features ("The cat sat on the mat"). Every key has feature 0 = 1,
so feature 0 of a query lifts its whole row, which a softmax ignores. "cat" sits near +95, where
exp overflows without the max shift; "mat" near -30, so far below the largest score that one
max for the whole tensor turns its every exp into 0 (0 / 0 is NaN); the rest between +20 and
+40. Feature 4 marks the key "mat": "cat" scores it 60 lower (a max broadcast along the wrong
axis stays finite), "on" 600 lower (a spread so wide that a shift by the mean overflows). Keys 0
and 4, "The" and "the", have no features but the shift, so Q K without the transpose stays tame.
Every exp the solution or a mutant takes is exactly 0 or above exp(-77), and no weight is
denormal (below 1.2e-38): the picture is the same with flush-to-zero on or off. The scores get a
trailing axis of size 1 and the softmax runs over dim=1, the keys, so a softmax that ignores dim
shows up too.
"""

import torch

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]

# The lesson's names for the steps the shape trace records (your softmax is built from
# element-wise operations, which the trace does not follow).
STEPS = ["scores = Q K^T"]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "softmax_calls_torch.py": "torch.softmax gives the right weights; only the rule is broken",
    "dot_scores_dot_T.py": "on 2-D keys .T is the same as transpose(-2, -1)",
}

SHIFTS = [30.0, 95.0, 20.0, 40.0, 25.0, -30.0]  # feature 0: the height of each row
MARK = 4  # the feature that picks out the key "mat"


def weights(problem):  # type: ignore[no-untyped-def]
    n, last = len(TOKENS), len(TOKENS) - 1
    generator = torch.Generator().manual_seed(1)
    q = torch.randn(n, 6, generator=generator) * 0.8
    k = torch.randn(n, 6, generator=generator) * 0.8
    k[0], k[MARK] = 0.0, 0.0  # "The" and "the": no features but the shift
    k[:, 0], k[:, MARK] = 1.0, 0.0
    k[last, MARK] = 1.0
    q[:, 0] = torch.tensor(SHIFTS)
    q[:, MARK] = 0.0
    q[1, MARK] = -60.0  # "cat" scores "mat" low
    q[3, MARK] = -600.0  # "on" scores "mat" far lower still
    scores = problem.dot_scores(q, k)  # (Tq, Tk)
    return problem.softmax(scores[..., None], dim=1)[..., 0]
