"""Reference solution for exercise 03: scaled dot-product attention."""

import math

import torch


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d_k)) V, returning the output and the attention weights."""
    d_k = q.shape[-1]  # the size of the vectors being dotted, not d_v and not a length
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., Tq, Tk), std about 1 again
    weights = torch.softmax(scores, dim=-1)  # each query's row over the keys sums to 1
    return weights @ v, weights  # (..., Tq, d_v), (..., Tq, Tk)
