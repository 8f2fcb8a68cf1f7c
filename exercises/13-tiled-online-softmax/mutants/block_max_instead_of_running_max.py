"""Mutant: each block's own max replaces the running max, so the correction factor
exp(old - new) can be huge and overflow.
"""

import math

import torch


def online_softmax_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v, visiting the keys block_size at a time."""
    if block_size < 1:
        raise ValueError("block_size must be at least 1")
    scale = 1.0 / math.sqrt(q.shape[-1])
    rows = q.shape[:-1]  # (B, Tq): one running statistic per query
    row_max = q.new_full((*rows, 1), float("-inf"))  # largest score seen so far
    row_sum = q.new_zeros((*rows, 1))  # sum of exp(score - row_max) so far
    acc = q.new_zeros((*rows, v.shape[-1]))  # sum of exp(score - row_max) * value so far
    for start in range(0, k.shape[-2], block_size):  # the last block may be shorter
        k_block = k[..., start : start + block_size, :]  # (B, b, d)
        v_block = v[..., start : start + block_size, :]  # (B, b, d_v)
        s = q @ k_block.transpose(-2, -1) * scale  # (B, Tq, b): only this block's scores
        new_max = s.amax(dim=-1, keepdim=True)
        correction = torch.exp(row_max - new_max)
        p = torch.exp(s - new_max)  # (B, Tq, b), every entry <= 1
        row_sum = row_sum * correction + p.sum(dim=-1, keepdim=True)
        acc = acc * correction + p @ v_block
        row_max = new_max
    return acc / row_sum  # normalise once, at the end
