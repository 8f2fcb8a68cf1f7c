"""Mutant: padded weights zeroed after the softmax, so the rows no longer sum to 1."""

import math

import torch


def attention_with_padding(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores, dim=-1)
    weights = weights.masked_fill(key_padding_mask[:, None, :], 0.0)
    return weights @ v, weights
