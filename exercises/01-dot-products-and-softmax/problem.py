"""Exercise 01: dot products and a numerically stable softmax.

Write the two building blocks every attention layer is made of:

    dot_scores(q, k)   one dot product per (query, key) pair
    softmax(x, dim)    turn a slice of scores into weights that are positive and sum to 1

Write the softmax yourself from torch.exp, a maximum and a sum: torch.softmax,
torch.nn.functional.softmax, torch.nn.Softmax and logsumexp are off limits here.
Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch


def dot_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Dot product of every query with every key.

    Shapes, with any number of leading axes (...) shared by q and k:
        q       (..., Tq, d)   one row per query
        k       (..., Tk, d)   one row per key
        returns (..., Tq, Tk)  entry [..., i, j] = sum over f of q[..., i, f] * k[..., j, f]

    Tq and Tk may differ; d must be the same for both.
    """
    # TODO: one matrix product gives every dot product at once. Which two axes of k must
    #       swap so that the feature axis of q meets the feature axis of k? Make it work
    #       for 2-D inputs as well as for inputs with batch (and head) axes in front.
    raise NotImplementedError("write dot_scores: every query against every key")


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of x along dim, safe for very large and very small scores.

    Shapes:
        x       any shape, for example (..., Tq, Tk)
        returns the same shape; every slice along dim is positive and sums to 1

    Entries equal to -inf must get a weight of exactly 0.
    """
    # TODO 1: find the largest entry of every slice along dim, keeping that axis (size 1)
    #         so the result lines up with x, and subtract it from x.
    # TODO 2: exponentiate the shifted scores.
    # TODO 3: divide by their sum along the same dim.
    raise NotImplementedError("write softmax: subtract the max along dim, exp, divide by the sum")
