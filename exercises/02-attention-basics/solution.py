"""Reference solution for exercise 02: attention basics."""

import torch
from torch import nn


class SimpleAttention(nn.Module):
    """Single-head self-attention, unscaled: softmax(Q K^T) V."""

    def __init__(self, n_embd: int = 768) -> None:
        super().__init__()
        self.query = nn.Linear(n_embd, n_embd)
        self.key = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.query(x)  # (B, T, C)
        k = self.key(x)  # (B, T, C)
        v = self.value(x)  # (B, T, C)
        scores = q @ k.transpose(-2, -1)  # (B, T, T): row i holds query i against every key
        weights = torch.softmax(scores, dim=-1)  # normalise over the keys
        return weights @ v  # (B, T, C)
