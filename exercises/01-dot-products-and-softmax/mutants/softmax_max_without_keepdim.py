"""Mutant: the max is taken without keepdim=True, so it broadcasts along the wrong axis."""

import torch


def dot_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return q @ k.transpose(-2, -1)


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    shifted = x - x.max(dim=dim).values
    exps = torch.exp(shifted)
    return exps / exps.sum(dim=dim, keepdim=True)
