"""Mutant: mask built with keys down the rows and queries along the columns, so each query
looks forward instead of back.
"""

import math

import torch


def sliding_window_mask(T: int, window: int) -> torch.Tensor:
    """(T, T) bool mask, True where query i may attend to key j."""
    i = torch.arange(T).unsqueeze(0)
    j = torch.arange(T).unsqueeze(1)
    return (j <= i) & (j > i - window)  # broadcasts to (T, T)


def sliding_window_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal attention restricted to the last `window` positions, itself included."""
    T, d = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., T, T)
    mask = sliding_window_mask(T, window).to(q.device)
    # Mask BEFORE the softmax: a score of -inf becomes a weight of exactly 0, and the
    # remaining weights of the row still sum to 1.
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # every row has at least its diagonal entry
    return weights @ v, weights
