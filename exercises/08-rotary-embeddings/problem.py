"""Exercise 08: rotary position embeddings (RoPE).

Give attention a sense of order by rotating queries and keys by an angle that grows
with the token's position. Three functions:

    rope_frequencies  builds the cos and sin tables, one angle per (position, pair)
    apply_rope        rotates every pair of features of a (B, n_head, T, head_dim) tensor
    rope_attention    scaled dot-product attention with RoPE on queries and keys

Pairing convention (rotate-half): feature i is paired with feature i + head_dim // 2.
Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch


def rope_frequencies(
    head_dim: int, max_len: int, base: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (cos, sin), each of shape (max_len, head_dim // 2).

    Pair i turns at speed theta_i = base ** (-2 * i / head_dim), for i = 0 .. head_dim//2 - 1.
    Row p, column i holds cos(p * theta_i) (and sin(p * theta_i) in the sin table).
    head_dim must be even.
    """
    # TODO 1: one speed theta_i per pair (head_dim // 2 of them). Mind the exponent.
    # TODO 2: one angle per (position, pair): position times speed, shape (max_len, head_dim // 2).
    # TODO 3: return the cosine and the sine of those angles.
    raise NotImplementedError("write rope_frequencies: speeds, angles, then (cos, sin)")


def apply_rope(
    x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int = 0
) -> torch.Tensor:
    """Rotate each feature pair of x by its angle; return a tensor of x's shape.

    x        (B, n_head, T, head_dim); token t of x sits at position offset + t
    cos, sin (max_len, head_dim // 2), from rope_frequencies
    pairs    (x[..., i], x[..., i + head_dim // 2]) for i = 0 .. head_dim//2 - 1
    """
    # TODO 1: take the rows of cos and sin for the positions of x's tokens (remember offset).
    # TODO 2: split the features into the first half and the second half.
    # TODO 3: rotate every pair (a, b) by its angle: a 2-D rotation, then put the halves back.
    raise NotImplementedError("write apply_rope: pick the rows, split the halves, rotate")


def rope_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention with rotary positions, no mask.

    q, k, v  (B, n_head, T, head_dim), tokens at positions offset .. offset+T-1
    returns  (out, weights): out (B, n_head, T, head_dim), weights (B, n_head, T, T)
    """
    # TODO 1: decide which of q, k, v carry position, and rotate exactly those.
    # TODO 2: scores scaled by 1 / sqrt(head_dim), softmax over the keys.
    # TODO 3: return the weighted values and the weights.
    raise NotImplementedError("write rope_attention: rotate, score, softmax, weighted sum")
