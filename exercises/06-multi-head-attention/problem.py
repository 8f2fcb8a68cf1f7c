"""Exercise 06: multi-head attention.

Run n_head scaled dot-product attentions side by side, each on its own slice of the
features, then glue the heads back together and mix them with an output projection:

    head_h = softmax(Q_h K_h^T / sqrt(head_dim)) V_h        head_dim = n_embd // n_head
    output = concat(head_1, ..., head_n) W_proj + b_proj

Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention (no mask).

    Shapes, with B = batch, T = sequence length, C = n_embd, nh = n_head, hd = C // nh:
        x                  (B, T, C)
        q, k, v            (B, T, C)       after the projections
        q, k, v per head   (B, nh, T, hd)  head h holds features h*hd to (h+1)*hd
        scores, weights    (B, nh, T, T)   weights: every row sums to 1 over the keys
        heads              (B, nh, T, hd)  weights @ v
        merged             (B, T, C)       the heads glued back together, per token
        output             (B, T, C)       proj(merged)

    forward returns the pair (output, weights).
    """

    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        # TODO 1: assert that n_embd splits evenly into n_head heads, and keep n_head and
        #         the head size for forward.
        # TODO 2: create self.query, self.key, self.value and the output projection
        #         self.proj, each an nn.Linear from n_embd to n_embd features (with bias).
        raise NotImplementedError("write __init__: check n_embd % n_head, create the 4 layers")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map x (B, T, C) to (output (B, T, C), weights (B, n_head, T, T))."""
        # TODO 3: project x into q, k and v, each (B, T, C).
        # TODO 4: split each into heads, (B, T, C) -> (B, nh, T, hd). Cut the feature axis
        #         into (nh, hd) first, then move the head axis in front of the tokens.
        # TODO 5: scaled attention in every head at once: scores over the last two axes,
        #         divided by the square root of the HEAD size, softmax over the keys.
        # TODO 6: weights @ v, then merge the heads back into (B, T, C) by undoing step 4.
        # TODO 7: apply the output projection and return (output, weights).
        raise NotImplementedError("write forward: project, split heads, attend, merge, project")
