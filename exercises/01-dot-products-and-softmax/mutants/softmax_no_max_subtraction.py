"""Mutant: softmax exponentiates the raw scores with no max subtracted: exp(1000) overflows."""

import torch


def dot_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return q @ k.transpose(-2, -1)


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    exps = torch.exp(x)
    return exps / exps.sum(dim=dim, keepdim=True)
