"""Exercise 07: cross-attention.

One sequence asks, another answers. The queries come from x; the keys and the values
come from a second sequence, the context, which may have a different length and a
different feature size:

    weights = softmax(Q_x K_context^T / sqrt(d_head), over the context tokens)
    output  = (weights V_context) W_proj + b_proj

Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch
from torch import nn


class CrossAttention(nn.Module):
    """Single-head cross-attention (no mask).

    Shapes, with B = batch, Tq = tokens in x, Tk = tokens in the context:
        x        (B, Tq, d_model)    the sequence that asks (gives the queries)
        context  (B, Tk, d_context)  the sequence that answers (gives keys and values)
        q        (B, Tq, d_head)
        k, v     (B, Tk, d_head)
        scores   (B, Tq, Tk)         one row per query, one column per context token
        weights  (B, Tq, Tk)         returned; every row sums to 1 over the context
        output   (B, Tq, d_model)    returned; one vector per token of x

    forward returns the pair (output, weights).
    """

    def __init__(self, d_model: int, d_context: int, d_head: int) -> None:
        super().__init__()
        # TODO 1: create four nn.Linear layers (with bias). Decide for each one which
        #         sequence it reads, and so how many features it takes in:
        #           self.query  -> d_head features
        #           self.key    -> d_head features
        #           self.value  -> d_head features
        #           self.proj   d_head -> d_model features (the output projection)
        #         Keep d_head for the scaling in forward.
        raise NotImplementedError("create self.query, self.key, self.value and self.proj")

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map x (B, Tq, d_model) and context (B, Tk, d_context) to (output, weights)."""
        # TODO 2: queries from one sequence, keys and values from the other.
        # TODO 3: scaled scores (B, Tq, Tk), then a softmax over the context tokens.
        # TODO 4: weights @ v, then the output projection; return (output, weights).
        raise NotImplementedError("write forward: q from x, k and v from context, attend, project")
