"""Exercise 13: tiled attention with an online softmax (the idea behind FlashAttention).

Compute the same result as

    softmax(q k^T / sqrt(d), over the keys) v

but visit the keys and values block_size at a time, keeping for every query a running max,
a running sum of exponentials and a running weighted sum of values. The full (Tq, Tk) matrix
of scores must never exist, and no softmax function may be called.

Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch


def online_softmax_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int
) -> torch.Tensor:
    """Attention over key blocks of length block_size (the last block may be shorter).

    Shapes, with B = batch (any leading dims work the same way):
        q            (B, Tq, d)
        k            (B, Tk, d)
        v            (B, Tk, d_v)
        block scores (B, Tq, b)     b = block_size, or fewer for the last block
        running max  (B, Tq, 1)     starts at -inf
        running sum  (B, Tq, 1)     starts at 0
        accumulator  (B, Tq, d_v)   starts at 0
        output       (B, Tq, d_v)
    """
    # TODO 1: create the running max, running sum and accumulator (see the shapes above).
    # TODO 2: loop over the key positions in steps of block_size, so that every key is
    #         visited exactly once, including a shorter last block.
    # TODO 3: for each block: scaled scores of every query against this block's keys; the new
    #         running max; the factor that converts what you accumulated under the old max;
    #         update the running sum and the accumulator with that factor and this block.
    # TODO 4: after the loop, normalise the accumulator by the running sum.
    raise NotImplementedError("write the block loop: running max, running sum, accumulator")
