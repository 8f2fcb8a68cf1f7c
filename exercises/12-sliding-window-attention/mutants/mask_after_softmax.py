"""Mutant: mask applied after the softmax, so the kept weights no longer sum to 1."""

import math

import torch


def sliding_window_mask(T: int, window: int) -> torch.Tensor:
    """(T, T) bool mask, True where query i may attend to key j: i - window < j <= i."""
    i = torch.arange(T).unsqueeze(1)  # (T, 1): query positions down the rows
    j = torch.arange(T).unsqueeze(0)  # (1, T): key positions along the columns
    return (j <= i) & (j > i - window)  # broadcasts to (T, T)


def sliding_window_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal attention restricted to the last `window` positions, itself included."""
    T, d = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., T, T)
    mask = sliding_window_mask(T, window).to(q.device)
    weights = torch.softmax(scores, dim=-1)
    weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights
