"""Mutant: the scores are divided by d_k instead of sqrt(d_k)."""

import torch


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / d_k
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
