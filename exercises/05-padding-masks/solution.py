"""Reference solution for exercise 05: key padding masks."""

import math

import torch


def attention_with_padding(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention that ignores padded keys.

    q (B, Tq, d_k), k (B, Tk, d_k), v (B, Tk, d_v), key_padding_mask (B, Tk) bool with
    True = padding. Returns out (B, Tq, d_v) and weights (B, Tq, Tk). A row whose keys are
    all padding gets all-zero weights and a zero output.
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (B, Tq, Tk)

    # (B, Tk) -> (B, 1, Tk): one mask row per batch item, shared by all of its queries,
    # lined up with the keys (the last axis of the scores).
    padding = key_padding_mask[:, None, :]

    # exp(-inf) = 0, so padded keys get exactly zero weight and the rest still sum to 1.
    scores = scores.masked_fill(padding, float("-inf"))
    weights = torch.softmax(scores, dim=-1)

    # A row of only -inf gives 0/0 = NaN. Every entry of such a row is a padded key, so
    # zeroing the padded positions turns those rows into all-zero weights (and elsewhere
    # it changes nothing: padded weights are already 0 there).
    weights = weights.masked_fill(padding, 0.0)

    return weights @ v, weights  # (B, Tq, d_v), (B, Tq, Tk)
