"""Mutant: RoPE applied to the queries only; the keys keep no position."""

import torch


def rope_frequencies(
    head_dim: int, max_len: int, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and sine of every rotation angle, each of shape (max_len, head_dim // 2)."""
    if head_dim % 2 != 0:
        raise ValueError(f"head_dim must be even to form pairs, got {head_dim}")
    # One speed per pair i: theta_i = base^(-2i / head_dim). Pair 0 turns fastest.
    pair = torch.arange(head_dim // 2, dtype=torch.float32)
    theta = base ** (-2.0 * pair / head_dim)  # (head_dim // 2,)
    position = torch.arange(max_len, dtype=torch.float32)  # (max_len,)
    angle = torch.outer(position, theta)  # (max_len, head_dim // 2): angle = position * theta_i
    return angle.cos(), angle.sin()


def apply_rope(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int = 0
) -> torch.Tensor:
    """Rotate x (B, n_head, T, head_dim); its tokens sit at positions offset .. offset+T-1."""
    seq_len, half = x.shape[-2], x.shape[-1] // 2
    # Rows for positions offset .. offset+T-1, shape (T, half); they broadcast over B and heads.
    c = cos[offset : offset + seq_len].to(x.dtype)
    s = sin[offset : offset + seq_len].to(x.dtype)
    # Rotate-half pairing: feature i is paired with feature i + half.
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)


def rope_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention with RoPE on the queries and keys (not the values)."""
    q = apply_rope(q, cos, sin, offset)
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (B, n_head, T, T)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
