"""Exercise 14: the transformer block.

Put together everything so far: causal multi-head self-attention, LayerNorm, a small
per-token MLP and residual connections, in the pre-LayerNorm arrangement:

    x = x + attn(ln1(x))        tokens read from earlier tokens
    x = x + mlp(ln2(x))         every token is processed on its own

Both classes live in this file; the tests build TransformerBlock and also test
CausalSelfAttention on its own. Read README.md (the lesson) first; the tutor re-runs the
tests every time you save.
"""

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention, scaled by 1 / sqrt(head_dim).

    Shapes, with B = batch, T = sequence length (1 <= T <= block_size), C = n_embd,
    nh = n_head, hd = C // nh:
        x                  (B, T, C)
        q, k, v per head   (B, nh, T, hd)
        mask               (block_size, block_size)  buffer: ones on and below the diagonal
        scores, weights    (B, nh, T, T)             weights are zero where key j > query i
        heads              (B, nh, T, hd)
        merged             (B, T, C)
        output             (B, T, C)                 proj(merged)

    forward returns only the output (the block has no use for the weights).
    """

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        # TODO 1: check that n_embd splits evenly into n_head heads; keep n_head and the
        #         head size for forward.
        # TODO 2: create self.query, self.key, self.value and self.proj, each an
        #         nn.Linear from n_embd to n_embd features (with bias).
        # TODO 3: register a (block_size, block_size) buffer named "mask" with ones on and
        #         below the diagonal and zeros above it.
        raise NotImplementedError(
            "write CausalSelfAttention.__init__: 4 Linear layers and the 'mask' buffer"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map x (B, T, C) to the attended output (B, T, C)."""
        # TODO 4: project x and split q, k, v into heads: (B, T, C) -> (B, nh, T, hd).
        # TODO 5: scaled scores; hide the keys after each query using the part of the mask
        #         that fits this T; softmax over the keys.
        # TODO 6: weights @ v, merge the heads back into (B, T, C), apply self.proj.
        raise NotImplementedError(
            "write CausalSelfAttention.forward: split heads, masked scaled attention, merge, proj"
        )


class TransformerBlock(nn.Module):
    """A pre-LayerNorm transformer block.

    Sub-modules (the tests look for these names):
        ln1   nn.LayerNorm(n_embd)                   normalises the input of attention
        attn  CausalSelfAttention(n_embd, n_head, block_size)
        ln2   nn.LayerNorm(n_embd)                   normalises the input of the MLP
        mlp   nn.Sequential(Linear(C, 4C), GELU(), Linear(4C, C))

    Shapes: x (B, T, C) in, (B, T, C) out, with T <= block_size.
    """

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        # TODO 7: create self.ln1, self.attn, self.ln2 and self.mlp as listed above.
        raise NotImplementedError("write TransformerBlock.__init__: ln1, attn, ln2, mlp")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map x (B, T, C) to (B, T, C)."""
        # TODO 8: the attention sub-layer: normalise a copy of x, attend, and ADD the
        #         result to x (x itself is never normalised).
        # TODO 9: the MLP sub-layer, the same way, with its own LayerNorm.
        raise NotImplementedError("write TransformerBlock.forward: two residual sub-layers")
