"""Mutant: the scores are divided by the square root of the number of keys."""

import math

import torch


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    t_k = k.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(t_k)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
