"""Mutant: the full (Tq, Tk) score matrix is built and handed to torch.softmax."""

import math

import torch


def online_softmax_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int
) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, Tq, Tk)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v
