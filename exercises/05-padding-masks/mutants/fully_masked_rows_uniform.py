"""Mutant: a large finite fill and no special case: an all-padding row averages the padding."""

import math

import torch


def attention_with_padding(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(key_padding_mask[:, None, :], -1e9)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
