"""Exercise 10: a key/value cache for incremental decoding.

Write causal multi-head self-attention whose forward can continue from the keys and values
of earlier calls:

    out, cache = module(x)             # the first tokens (a prompt), no cache yet
    out, cache = module(x_next, cache) # more tokens: they see everything before them

Feeding a sequence in pieces must give exactly the outputs of one call on the whole sequence.
Read README.md (the lesson) first; the tutor re-runs the tests every time you save.
"""

import torch
from torch import nn

Cache = tuple[torch.Tensor, torch.Tensor]


class CachedSelfAttention(nn.Module):
    """Causal multi-head self-attention with a key/value cache.

    Shapes, with B = batch, C = n_embd, H = n_head, hd = C // H:
        x              (B, T_new, C)       the new tokens only
        cache          (past_k, past_v), each (B, H, T_past, hd), or None
        q              (B, H, T_new, hd)
        k, v           (B, H, T_past + T_new, hd) after joining the cache
        scores/weights (B, H, T_new, T_past + T_new)
        out            (B, T_new, C)
        new cache      (k, v), each (B, H, T_past + T_new, hd)
    """

    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.head_dim = n_embd // n_head
        self.query = nn.Linear(n_embd, n_embd)
        self.key = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> tuple[torch.Tensor, Cache]:
        """Attend from the new tokens x to the cached past and to themselves.

        Returns (out, new_cache): out (B, T_new, C); new_cache = (keys, values) of ALL tokens
        so far, each (B, H, T_past + T_new, hd), ready to pass to the next call.
        """
        # TODO 1: project x into q, k, v and split each into heads: (B, H, T_new, hd).
        # TODO 2: if there is a cache, put the past keys and values in front of the new ones.
        #         Which dimension is time once the heads are split?
        # TODO 3: build the causal mask for the new tokens. New token t is at position
        #         T_past + t: which keys may it see?
        # TODO 4: scaled scores, mask, softmax over the keys, weighted values,
        #         merge the heads back to (B, T_new, C) and apply self.proj.
        # TODO 5: return the output and the grown cache.
        raise NotImplementedError("write forward: project, join the cache, mask, attend")
