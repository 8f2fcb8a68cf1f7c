"""Reference solution for exercise 14: a pre-LayerNorm transformer block."""

import math

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention: every token reads itself and the tokens before it."""

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        assert n_embd % n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.query = nn.Linear(n_embd, n_embd)
        self.key = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        # Built once for the longest sequence; row i has ones in columns 0..i.
        self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size)))

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, n_head, T, head_dim)."""
        batch, length, _ = t.shape
        return t.view(batch, length, self.n_head, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, channels = x.shape
        q = self.split_heads(self.query(x))  # (B, nh, T, hd)
        k = self.split_heads(self.key(x))  # (B, nh, T, hd)
        v = self.split_heads(self.value(x))  # (B, nh, T, hd)

        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, nh, T, T)
        visible = self.mask[:length, :length]  # the top-left T x T corner
        scores = scores.masked_fill(visible == 0, float("-inf"))  # hide the future
        weights = torch.softmax(scores, dim=-1)  # (B, nh, T, T)

        heads = weights @ v  # (B, nh, T, hd)
        merged = heads.transpose(1, 2).contiguous().view(batch, length, channels)  # (B, T, C)
        return self.proj(merged)


class TransformerBlock(nn.Module):
    """One pre-LayerNorm transformer block: attention, then an MLP, each on a residual branch."""

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),  # widen: room to compute per-token features
            nn.GELU(),  # the only non-linearity of the block outside the softmax
            nn.Linear(4 * n_embd, n_embd),  # back to the width of the residual stream
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Each sub-layer reads a normalised copy of the stream and ADDS its result to it;
        # the stream itself is never normalised, so x flows through untouched.
        x = x + self.attn(self.ln1(x))  # tokens exchange information
        x = x + self.mlp(self.ln2(x))  # each token processes what it gathered
        return x
