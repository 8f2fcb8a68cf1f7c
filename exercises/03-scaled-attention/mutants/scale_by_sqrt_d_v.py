"""Mutant: the scores are divided by sqrt(d_v), the value size, instead of sqrt(d_k)."""

import math

import torch


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    d_v = v.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_v)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
