"""Mutant: the mask lined up with the queries, (B, Tk, 1), instead of the keys, (B, 1, Tk)."""

import math

import torch


def attention_with_padding(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    padding = key_padding_mask[:, :, None]
    scores = scores.masked_fill(padding, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    weights = weights.masked_fill(padding, 0.0)
    return weights @ v, weights
