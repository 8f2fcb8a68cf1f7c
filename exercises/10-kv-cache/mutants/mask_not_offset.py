"""Mutant: causal mask not shifted by the cache length: new tokens see only the first keys."""

import torch
from torch import nn

Cache = tuple[torch.Tensor, torch.Tensor]


class CachedSelfAttention(nn.Module):
    """Causal multi-head self-attention that can continue from cached keys and values."""

    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError(f"n_embd={n_embd} is not divisible by n_head={n_head}")
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.query = nn.Linear(n_embd, n_embd)
        self.key = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, n_head, T, head_dim)."""
        batch, seq_len, _ = t.shape
        return t.view(batch, seq_len, self.n_head, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> tuple[torch.Tensor, Cache]:
        batch, new_len, n_embd = x.shape
        # Only the NEW tokens are projected; the past keys and values come from the cache.
        q = self.split_heads(self.query(x))  # (B, H, T_new, hd)
        k = self.split_heads(self.key(x))
        v = self.split_heads(self.value(x))
        if cache is not None:
            past_k, past_v = cache  # (B, H, T_past, hd) each
            k = torch.cat([past_k, k], dim=2)  # time is dim 2 once the heads are split
            v = torch.cat([past_v, v], dim=2)
        total_len = k.shape[2]
        query_pos = torch.arange(new_len)[:, None]  # (T_new, 1)
        key_pos = torch.arange(total_len)[None, :]  # (1, T_total)
        future = key_pos > query_pos  # (T_new, T_total)
        scores = q @ k.transpose(-2, -1) / self.head_dim**0.5  # (B, H, T_new, T_total)
        weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(batch, new_len, n_embd)
        return self.proj(out), (k, v)
