"""Mutant: padded scores set to 0 instead of -inf, so padded keys still get weight."""

import math

import torch


def attention_with_padding(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    padding = key_padding_mask[:, None, :]
    scores = scores.masked_fill(padding, 0.0)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
