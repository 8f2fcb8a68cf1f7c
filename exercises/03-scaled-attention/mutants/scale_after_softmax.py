"""Mutant: the weights are divided by sqrt(d_k) after the softmax, not the scores before."""

import math

import torch


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1)
    weights = torch.softmax(scores, dim=-1) / math.sqrt(d_k)
    return weights @ v, weights
