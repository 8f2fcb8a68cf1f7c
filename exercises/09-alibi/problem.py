"""Exercise 09: ALiBi, attention with linear biases.

Tell attention about word order by subtracting from each score a penalty that grows with
the distance between query and key, at a different rate (slope) in every head:

    alibi_slopes     one slope per head: 2^(-8 (h + 1) / n_head), n_head a power of two
    alibi_bias       the penalty -slope_h * |i - j| for every head, query i and key j
    alibi_attention  causal, scaled dot-product attention with the bias added to the scores

Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch


def alibi_slopes(n_head: int) -> torch.Tensor:
    """Return the slopes, shape (n_head,).

    Head h (h = 0 .. n_head - 1) gets 2 ** (-8 * (h + 1) / n_head).
    For 8 heads: 1/2, 1/4, ..., 1/256. n_head must be a power of two.
    """
    # TODO: a geometric sequence; check the first head's slope against the docstring.
    raise NotImplementedError("write alibi_slopes: one slope per head")


def alibi_bias(n_head: int, seq_len: int) -> torch.Tensor:
    """Return the bias, shape (n_head, seq_len, seq_len).

    bias[h, i, j] = -slope_h * |i - j|: 0 on the diagonal, more negative further away,
    the same above and below the diagonal.
    """
    # TODO 1: the distance between every query position i and key position j, shape (T, T).
    # TODO 2: combine it with the slopes so that each head gets its own (T, T) penalty.
    raise NotImplementedError("write alibi_bias: distances times slopes, as a penalty")


def alibi_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal attention with linear biases.

    q, k, v  (B, n_head, T, head_dim)
    returns  (out, weights): out (B, n_head, T, head_dim), weights (B, n_head, T, T)
    weights = softmax(q k^T / sqrt(head_dim) + bias, with future keys masked) over the keys
    """
    # TODO 1: scaled scores, one (T, T) block per batch item and head.
    # TODO 2: add the ALiBi bias at the right moment.
    # TODO 3: hide the future keys from every query, then softmax over the keys.
    # TODO 4: return the weighted values and the weights.
    raise NotImplementedError("write alibi_attention: scores, bias, causal mask, softmax")
