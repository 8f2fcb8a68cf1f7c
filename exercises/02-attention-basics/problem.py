"""Exercise 02: attention basics.

Write single-head self-attention without scaling:

    output = softmax(Q K^T, over the keys) V

where Q, K and V are three learned linear projections of the same input.
Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch
from torch import nn


class SimpleAttention(nn.Module):
    """Single-head self-attention, unscaled.

    Shapes, with B = batch, T = sequence length, C = n_embd:
        x       (B, T, C)
        Q, K, V (B, T, C)
        scores  (B, T, T)   one row per query, one column per key
        weights (B, T, T)   every row sums to 1
        output  (B, T, C)
    """

    def __init__(self, n_embd: int = 768) -> None:
        super().__init__()
        # TODO: create three projections from n_embd to n_embd features, named
        # self.query, self.key and self.value (each an nn.Linear, with bias).
        raise NotImplementedError("create self.query, self.key and self.value in __init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map x of shape (B, T, C) to the attended output of shape (B, T, C)."""
        # TODO 1: project x into queries, keys and values.
        # TODO 2: score every query against every key with a dot product.
        #         Think about which dimensions of K must swap for the product to work.
        # TODO 3: turn each query's row of scores into weights that sum to 1.
        # TODO 4: return the weighted sum of the values.
        raise NotImplementedError("write forward: project, score, softmax, weighted sum")
