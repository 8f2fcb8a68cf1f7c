"""Mutant: the bias added to the weights after the softmax, not to the scores."""

import torch


def alibi_slopes(n_head: int) -> torch.Tensor:
    """One slope per head, (n_head,): 2^(-8 (h + 1) / n_head) for h = 0 .. n_head - 1."""
    if n_head < 1 or n_head & (n_head - 1):
        raise ValueError(f"n_head must be a power of two, got {n_head}")
    head = torch.arange(1, n_head + 1, dtype=torch.float32)  # h + 1 = 1 .. n_head
    return 2.0 ** (-8.0 * head / n_head)


def alibi_bias(n_head: int, seq_len: int) -> torch.Tensor:
    """The bias -slope_h * |i - j| for head h, query i, key j: shape (n_head, T, T)."""
    position = torch.arange(seq_len)
    distance = (position[:, None] - position[None, :]).abs().float()  # (T, T), 0 on the diagonal
    return -alibi_slopes(n_head)[:, None, None] * distance  # (n_head, 1, 1) * (T, T)


def alibi_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal scaled dot-product attention with ALiBi; q, k, v (B, n_head, T, head_dim)."""
    n_head, seq_len, head_dim = q.shape[-3], q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / head_dim**0.5  # (B, n_head, T, T)
    # The bias joins the scores after scaling and before the softmax; it broadcasts over B.
    future = torch.ones(seq_len, seq_len, dtype=torch.bool).triu(diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    weights = weights + alibi_bias(n_head, seq_len).to(scores.dtype)
    return weights @ v, weights
