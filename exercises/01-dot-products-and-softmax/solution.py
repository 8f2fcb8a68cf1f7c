"""Reference solution for exercise 01: dot products and a stable softmax."""

import torch


def dot_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Score every query against every key: (..., Tq, d) and (..., Tk, d) -> (..., Tq, Tk)."""
    # transpose(-2, -1) swaps only the last two axes, so any leading (batch, head) axes survive.
    return q @ k.transpose(-2, -1)


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax of ``x`` along ``dim``; the output has the shape of ``x``."""
    # Shift each slice so its largest entry is 0: exp then lies in (0, 1] and cannot overflow.
    # keepdim=True keeps the reduced axis (size 1) so the shift broadcasts along ``dim`` only.
    shifted = x - x.amax(dim=dim, keepdim=True)
    exps = torch.exp(shifted)  # exp(-inf) is exactly 0, so -inf scores get no weight
    return exps / exps.sum(dim=dim, keepdim=True)
