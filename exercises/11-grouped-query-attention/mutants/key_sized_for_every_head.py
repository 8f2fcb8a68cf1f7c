"""Mutant: key and value layers sized for n_head heads (n_embd outputs), as in plain multi-head
attention, so nothing is shared.
"""

import math

import torch
from torch import nn


class GroupedQueryAttention(nn.Module):
    """Non-causal self-attention with n_head query heads sharing n_kv_head key/value heads."""

    def __init__(self, n_embd: int, n_head: int, n_kv_head: int) -> None:
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError("n_embd must be divisible by n_head")
        if n_head % n_kv_head != 0:
            raise ValueError("n_head must be divisible by n_kv_head")
        self.n_head = n_head
        self.n_kv_head = n_kv_head
        self.head_dim = n_embd // n_head
        self.query = nn.Linear(n_embd, n_embd)
        self.key = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, C = x.shape
        hd = self.head_dim
        # Split the features into heads, then move the head axis in front of the tokens.
        q = self.query(x).view(B, T, self.n_head, hd).transpose(1, 2)  # (B, nh, T, hd)
        k = self.key(x).view(B, T, self.n_head, hd).transpose(1, 2)  # (B, nh, T, hd)
        v = self.value(x).view(B, T, self.n_head, hd).transpose(1, 2)  # (B, nh, T, hd)
        scores = q @ k.transpose(-2, -1) / math.sqrt(hd)  # (B, nh, T, T), scaled by the head size
        weights = torch.softmax(scores, dim=-1)
        out = weights @ v  # (B, nh, T, hd)
        out = out.transpose(1, 2).reshape(B, T, C)  # heads back side by side: (B, T, C)
        return self.proj(out), weights
