"""Exercise 15: attention in a trained model.

Write causal multi-head self-attention once more. This time the tests put it inside a small
trained language model, in place of the attention it was trained with, and read it at work:
it must predict the held-out text as well as the reference, write the same continuation of a
prompt, and keep the heads the model learned (a previous-token head, an induction head).

    head_h  = softmax(mask(Q_h K_h^T / sqrt(head_dim))) V_h      head_dim = n_embd // n_head
    output  = concat(head_1, ..., head_n) W_proj + b_proj

Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention that returns its weights too.

    Shapes, with B = batch, T = sequence length (1 <= T <= block_size), C = n_embd,
    nh = n_head, hd = C // nh:
        x                  (B, T, C)
        q, k, v per head   (B, nh, T, hd)  head h holds features h*hd to (h+1)*hd
        scores, weights    (B, nh, T, T)   weight 0 where key j comes after query i
        heads              (B, nh, T, hd)  weights @ v
        merged             (B, T, C)       the heads glued back together, per token
        output             (B, T, C)       proj(merged)

    The trained model loads its weights into self.query, self.key, self.value and self.proj,
    so those four names, and no other parameter, must exist. forward returns the pair
    (output, weights).
    """

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        # TODO 1: check that n_embd splits evenly into n_head heads; keep n_head and the
        #         head size for forward.
        # TODO 2: create self.query, self.key, self.value and self.proj, each an
        #         nn.Linear from n_embd to n_embd features (with bias).
        # TODO 3: register a (block_size, block_size) buffer named "mask", ones on and
        #         below the diagonal (a buffer is not a parameter: the model loads none).
        raise NotImplementedError("write __init__: 4 Linear layers and the causal mask")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map x (B, T, C) to (output (B, T, C), weights (B, n_head, T, T))."""
        # TODO 4: project x and split q, k, v into heads: (B, T, C) -> (B, nh, T, hd).
        # TODO 5: scores divided by sqrt(head size); hide every key after its query with
        #         the T x T corner of the mask; softmax over the keys.
        # TODO 6: weights @ v, merge the heads back into (B, T, C), apply self.proj, and
        #         return (output, weights).
        raise NotImplementedError("write forward: heads, masked scaled attention, merge, proj")
