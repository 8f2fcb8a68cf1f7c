"""Exercise 11: grouped-query attention (GQA) and multi-query attention (MQA).

Write non-causal multi-head self-attention in which the n_head query heads share a smaller
set of n_kv_head key/value heads. Query heads are split into n_kv_head contiguous groups of
n_head // n_kv_head heads; every head of group g reads key/value head g.

    n_kv_head == n_head      ordinary multi-head attention
    n_kv_head == 1           multi-query attention: one key/value head for everyone
    anything in between      grouped-query attention

Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch
from torch import nn


class GroupedQueryAttention(nn.Module):
    """Non-causal self-attention with grouped key/value heads.

    Shapes, with B = batch, T = sequence length, C = n_embd, nh = n_head,
    nkv = n_kv_head, hd = C // nh (the head size), group = nh // nkv:
        x                  (B, T, C)
        self.query(x)      (B, T, C)            split into q (B, nh, T, hd)
        self.key(x)        (B, T, nkv * hd)     split into k (B, nkv, T, hd)
        self.value(x)      (B, T, nkv * hd)     split into v (B, nkv, T, hd)
        k, v repeated      (B, nh, T, hd)       query head h uses kv head h // group
        weights            (B, nh, T, T)        every row sums to 1
        heads' outputs     (B, nh, T, hd)       merged back to (B, T, C)
        output             (B, T, C)            after self.proj
    forward returns (output, weights).
    """

    def __init__(self, n_embd: int, n_head: int, n_kv_head: int) -> None:
        super().__init__()
        # TODO 1: check that n_embd % n_head == 0 and n_head % n_kv_head == 0 (raise ValueError with
        #         a message that names the head counts),
        #         and keep n_head, n_kv_head and the head size for forward.
        # TODO 2: create four nn.Linear layers (with bias):
        #         self.query: n_embd -> n_embd           (every query head gets its own slice)
        #         self.key, self.value: n_embd -> ?      (how many heads do keys and values have?)
        #         self.proj: n_embd -> n_embd            (mixes the heads' outputs at the end)
        raise NotImplementedError("create self.query, self.key, self.value and self.proj")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map x (B, T, C) to (output (B, T, C), weights (B, n_head, T, T))."""
        # TODO 1: project x and split q into n_head heads, k and v into n_kv_head heads,
        #         each as (B, heads, T, head_size). A plain .view to that shape is not enough.
        # TODO 2: give every query head its key/value head: kv head g serves query heads
        #         g * group ... g * group + group - 1. Mind the order of the copies.
        # TODO 3: scaled scores (which size goes under the square root?), softmax over the keys.
        # TODO 4: weighted sum of the values, heads merged back to (B, T, C), then self.proj.
        #         Return the output and the weights.
        raise NotImplementedError("write forward: split heads, share kv heads, attend, merge")
