"""Exercise 04: causal self-attention.

Write single-head self-attention for a language model: token i may look at tokens 0..i,
never at the tokens after it.

    scores  = Q K^T / sqrt(C)
    scores  = -inf wherever the key comes after the query     (before the softmax!)
    weights = softmax(scores, over the keys)
    output  = weights V

The lower-triangular mask is built once, for the longest allowed sequence (block_size),
and stored as a buffer named `mask`. Read README.md (the lesson) first; the tutor re-runs
the tests every time you save.
"""

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """Single-head causal self-attention.

    Shapes, with B = batch, T = sequence length (1 <= T <= block_size), C = n_embd:
        x        (B, T, C)
        Q, K, V  (B, T, C)
        mask     (block_size, block_size)   buffer: 1 on and below the diagonal, 0 above
        scores   (B, T, T)   row i = query i, column j = key j
        weights  (B, T, T)   every row sums to 1; zero where j > i
        output   (B, T, C)

    forward(x) returns (output, weights).
    """

    def __init__(self, n_embd: int, block_size: int) -> None:
        super().__init__()
        # TODO 1: create self.query, self.key and self.value, each nn.Linear(n_embd, n_embd).
        # TODO 2: build a (block_size, block_size) matrix with ones on and below the diagonal
        #         and zeros above it, and register it as a buffer named "mask" (not as a
        #         parameter, and not as a plain attribute).
        raise NotImplementedError("create the three projections and register the 'mask' buffer")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map x of shape (B, T, C) to (output (B, T, C), weights (B, T, T))."""
        # TODO 1: project x into queries, keys and values.
        # TODO 2: score every query against every key and scale by 1 / sqrt(C).
        # TODO 3: take the part of the mask that fits this T, and set the scores of future
        #         keys to -inf. Does this happen before or after the softmax?
        # TODO 4: softmax over the keys, weighted sum of the values; return (output, weights).
        raise NotImplementedError("write forward: project, score, scale, mask, softmax, average")
