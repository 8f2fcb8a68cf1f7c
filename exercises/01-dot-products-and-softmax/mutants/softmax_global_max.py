"""Mutant: softmax subtracts one max of the whole tensor instead of one max per slice along dim."""

import torch


def dot_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return q @ k.transpose(-2, -1)


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    exps = torch.exp(x - x.max())
    return exps / exps.sum(dim=dim, keepdim=True)
