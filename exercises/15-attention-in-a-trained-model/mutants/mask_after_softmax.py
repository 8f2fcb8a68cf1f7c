"""Mutant: the future zeroed after the softmax, so the rows no longer sum to 1."""

import math

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention that also hands back its weights."""

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        assert n_embd % n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.query = nn.Linear(n_embd, n_embd)
        self.key = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        # Row i has ones in columns 0..i: a token sees itself and the tokens before it.
        self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size)))

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, n_head, T, head_dim): head h owns features h*hd to (h+1)*hd."""
        batch, length, _ = t.shape
        return t.view(batch, length, self.n_head, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, channels = x.shape
        q = self.split_heads(self.query(x))  # (B, nh, T, hd)
        k = self.split_heads(self.key(x))  # (B, nh, T, hd)
        v = self.split_heads(self.value(x))  # (B, nh, T, hd)

        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, nh, T, T)
        visible = self.mask[:length, :length]  # the top-left T x T corner
        weights = torch.softmax(scores, dim=-1)
        weights = weights.masked_fill(visible == 0, 0.0)

        heads = weights @ v  # (B, nh, T, hd)
        merged = heads.transpose(1, 2).contiguous().view(batch, length, channels)  # (B, T, C)
        return self.proj(merged), weights
