"""Mutant: k.T reverses every axis of k, batch and heads included."""

import torch


def dot_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return q @ k.T


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    shifted = x - x.amax(dim=dim, keepdim=True)
    exps = torch.exp(shifted)
    return exps / exps.sum(dim=dim, keepdim=True)
