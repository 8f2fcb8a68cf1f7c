"""Mutant: scores divided by their plain sum, with no exp."""

import torch


def dot_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return q @ k.transpose(-2, -1)


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return x / x.sum(dim=dim, keepdim=True)
