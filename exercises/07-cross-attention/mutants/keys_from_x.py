"""Mutant: keys computed from x instead of the context."""

import math

import torch
from torch import nn


class CrossAttention(nn.Module):
    """Single-head cross-attention: queries from x, keys and values from a context sequence."""

    def __init__(self, d_model: int, d_context: int, d_head: int) -> None:
        super().__init__()
        self.d_head = d_head
        self.query = nn.Linear(d_model, d_head)  # reads the sequence that asks
        self.key = nn.Linear(d_model, d_head)
        self.value = nn.Linear(d_context, d_head)
        self.proj = nn.Linear(d_head, d_model)  # back to x's feature size

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.query(x)  # (B, Tq, d_head)
        k = self.key(x)
        v = self.value(context)  # (B, Tk, d_head)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, Tq, Tk)
        weights = torch.softmax(scores, dim=-1)  # each query shares out 1 over the context
        return self.proj(weights @ v), weights  # (B, Tq, d_model), (B, Tq, Tk)
