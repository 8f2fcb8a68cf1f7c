"""Mutant: keys not transposed in the scores: q @ k instead of q @ k^T."""

import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: n_head scaled attentions side by side, then a projection."""

    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        assert n_embd % n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.query = nn.Linear(n_embd, n_embd)
        self.key = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, n_head, T, head_dim): head h owns features h*hd to (h+1)*hd."""
        batch, length, _ = t.shape
        # view cuts each token's C features into n_head groups; the transpose then brings
        # the head axis in front of the tokens so each head sees a (T, head_dim) matrix.
        return t.view(batch, length, self.n_head, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, channels = x.shape
        q = self.split_heads(self.query(x))  # (B, nh, T, hd)
        k = self.split_heads(self.key(x))  # (B, nh, T, hd)
        v = self.split_heads(self.value(x))  # (B, nh, T, hd)

        scores = q @ k / math.sqrt(self.head_dim)  # (B, nh, T, T)
        weights = torch.softmax(scores, dim=-1)  # each head's rows sum to 1 over the keys
        heads = weights @ v  # (B, nh, T, hd)

        # Undo the split: heads back behind the tokens, then glue each token's heads together.
        merged = heads.transpose(1, 2).contiguous().view(batch, length, channels)  # (B, T, C)
        return self.proj(merged), weights
