"""Reference solution for exercise 04: causal self-attention."""

import math

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """Single-head self-attention where token i only sees tokens 0..i."""

    def __init__(self, n_embd: int, block_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(n_embd, n_embd)
        self.key = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)
        # Row i has ones in columns 0..i: what query i may see. A buffer is part of the
        # module's state (it moves with .to() and is saved in state_dict) but is never trained.
        self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, T, C = x.shape
        q, k, v = self.query(x), self.key(x), self.value(x)  # each (B, T, C)
        scores = q @ k.transpose(-2, -1) / math.sqrt(C)  # (B, T, T)
        # Hide the future BEFORE the softmax: exp(-inf) = 0, and the rest still sums to 1.
        visible = self.mask[:T, :T]  # the top-left T x T corner fits any length T <= block_size
        scores = scores.masked_fill(visible == 0, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T, T), zero above the diagonal
        return weights @ v, weights  # (B, T, C), (B, T, T)
