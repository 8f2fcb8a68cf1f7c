"""The attention picture for exercise 10: "The cat sat on the warm mat" fed through the cache.

The prompt "The cat sat" goes in with no cache; then "on the" arrives as one chunk, and "warm"
and "mat" one token at a time, each call given the cache the previous call returned. Every
call's weights fill the rows of its new tokens, so the picture is the causal attention of the
whole sentence, assembled call by call: it must equal one full causal pass. A call whose
weights have fewer columns than the tokens seen so far (it lost part of the cache) is drawn
against the most recent keys.
"""

import torch

from tutor.kit import captured_softmax, fixed_parameters

TOKENS = ["The", "cat", "sat", "on", "the", "warm", "mat"]
CAUSAL = True
CALLS = [3, 2, 1, 1]  # new tokens per call: the prompt, a chunk, then one token at a time

# The lesson's names for the steps the shape trace records, call by call. The trace keeps
# the first 24 steps: the prompt's call, the chunk's and the call for "warm".
CALL_STEPS = [
    "q = x W_q",
    "k = x W_k",
    "v = x W_v",
    "scores = q k^T",
    "mask",
    "weights = softmax",
    "attended",
    "output = proj",
]
STEPS = [f"{call}: {name}" for call in ("prompt", "chunk", "warm") for name in CALL_STEPS]

# Mutants whose mistake the picture cannot name (the diagnosis then says nothing), and why.
INDISTINCT = {
    "values_not_appended.py": (
        "the forward raises: weights over all the keys, values for the new tokens only"
    ),
    "concat_on_dim_1.py": "the forward raises: the cache and the new chunk differ in length",
}


def call(module, chunk, cache):  # type: ignore[no-untyped-def]
    """One forward through the cache: its weights (heads, new, keys) and the cache it returns."""
    returned = []
    w = captured_softmax(lambda: returned.append(module(chunk, cache)))
    _, new_cache = returned[0]
    return w[0], new_cache


def weights(problem):  # type: ignore[no-untyped-def]
    module = fixed_parameters(problem.CachedSelfAttention(n_embd=8, n_head=2))
    x = torch.randn(1, len(TOKENS), 8, generator=torch.Generator().manual_seed(10)) * 0.5
    picture = torch.zeros(2, len(TOKENS), len(TOKENS))
    cache, seen = None, 0
    for new in CALLS:
        w, cache = call(module, x[:, seen : seen + new], cache)
        seen += new
        # Right-aligned: the call's last key column is its newest token.
        picture[:, seen - new : seen, seen - w.shape[-1] : seen] = w
    return picture
