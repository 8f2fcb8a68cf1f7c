"""Tests for exercise 10: a key/value cache for incremental decoding.

Every expected value is computed here in float64 from the learner's own nn.Linear layers
with torch's scaled_dot_product_attention, so the tests judge the learner's forward pass
and cache handling, not a copy of them.
"""

import pytest
import torch
from torch.nn import functional as F

from problem import CachedSelfAttention
from tutor.kit import assert_close, assert_shape, closest_match

DOUBLE = torch.float64


def make(n_embd: int = 12, n_head: int = 3, seed: int = 0) -> CachedSelfAttention:
    torch.manual_seed(seed)
    return CachedSelfAttention(n_embd, n_head)


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def linear(layer: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x.to(DOUBLE), layer.weight.to(DOUBLE), layer.bias.to(DOUBLE))


def heads(module: CachedSelfAttention, t: torch.Tensor) -> torch.Tensor:
    batch, seq_len, n_embd = t.shape
    return t.view(batch, seq_len, module.n_head, n_embd // module.n_head).transpose(1, 2)


def projections(module: CachedSelfAttention, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """q, k, v of x in float64, each (B, H, T, hd)."""
    return tuple(
        heads(module, linear(layer, x)) for layer in (module.query, module.key, module.value)
    )


def attend(module, q, k, v, allowed: torch.Tensor) -> torch.Tensor:
    """Attention of q over (k, v) where allowed[t, j] says query t may see key j; then proj."""
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    batch, _, new_len, _ = q.shape
    return linear(module.proj, out.transpose(1, 2).reshape(batch, new_len, -1))


def visible(past_len: int, new_len: int) -> torch.Tensor:
    """(T_new, T_past + T_new): new token t is at position past_len + t."""
    query_pos = torch.arange(past_len, past_len + new_len)[:, None]
    return torch.arange(past_len + new_len)[None, :] <= query_pos


def reference(module, x: torch.Tensor) -> torch.Tensor:
    """The full causal forward on the whole sequence, (B, T, C) in float64."""
    q, k, v = projections(module, x)
    return attend(module, q, k, v, visible(0, x.shape[1]))


def reference_from_cache(module, past_k, past_v, x_new) -> torch.Tensor:
    q, k, v = projections(module, x_new)
    k = torch.cat([past_k.to(DOUBLE), k], dim=2)
    v = torch.cat([past_v.to(DOUBLE), v], dim=2)
    return attend(module, q, k, v, visible(past_k.shape[2], x_new.shape[1]))


def step(module, x: torch.Tensor, cache, past_len: int, check_cache: bool = True):
    """Call forward and check that it returned (out, (keys, values)) of the right shapes."""
    batch, new_len, n_embd = x.shape
    error = None
    try:
        result = module(x, cache)
    except NotImplementedError:
        raise
    except RuntimeError as raised:
        error = raised
    if error is not None:
        pytest.fail(
            f"forward raised an error on {new_len} new token(s) with a cache of {past_len} past "
            f"token(s): {str(error).rstrip('.')}. Past and new keys, and past and new values, "
            "are both joined along the time axis, which is dim 2 of a (B, H, T, hd) tensor."
        )
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail("forward should return a pair (out, new_cache)")
    out, new_cache = result
    assert_shape(out, (batch, new_len, n_embd), what=f"the output for {new_len} new token(s)")
    if check_cache:
        check_cache_shapes(new_cache, expected_cache_shape(module, x, past_len), past_len, new_len)
    return out, new_cache


def expected_cache_shape(module, x: torch.Tensor, past_len: int) -> tuple[int, ...]:
    batch, new_len, n_embd = x.shape
    return (batch, module.n_head, past_len + new_len, n_embd // module.n_head)


def check_cache_shapes(new_cache, expected, past_len: int, new_len: int) -> None:
    if not (isinstance(new_cache, tuple) and len(new_cache) == 2):
        pytest.fail("the new cache should be a pair (keys, values), each (B, H, T, hd)")
    for name, tensor in zip(("keys", "values"), new_cache, strict=True):
        assert_shape(
            tensor,
            expected,
            what=f"the cached {name} after {past_len + new_len} tokens "
            f"({past_len} cached + {new_len} new)",
        )


def run_in_pieces(module, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Feed x to the module in pieces of the given sizes; return all outputs joined."""
    outs, cache, start = [], None, 0
    for size in sizes:
        out, cache = step(module, x[:, start : start + size], cache, past_len=start)
        outs.append(out)
        start += size
    return torch.cat(outs, dim=1)


def piece_mistakes(module, x: torch.Tensor, sizes: list[int]) -> dict[str, torch.Tensor]:
    """What the classic cache mistakes would return for x fed in these pieces."""
    q, k, v = projections(module, x)
    total = x.shape[1]
    own_chunk = torch.zeros(total, total, dtype=torch.bool)
    unmasked_chunk = torch.zeros(total, total, dtype=torch.bool)
    not_offset = torch.zeros(total, total, dtype=torch.bool)
    start = 0
    for size in sizes:
        end = start + size
        own_chunk[start:end, start:end] = visible(0, size)
        # Without a mask once a cache exists, a piece sees all of itself.
        unmasked_chunk[start:end, :end] = visible(0, size) if start == 0 else True
        # Unshifted mask: new token t may only see keys 0 .. t.
        not_offset[start:end, :end] = torch.arange(end)[None, :] <= torch.arange(size)[:, None]
        start = end
    return {
        "the cache is ignored: each piece only attends within itself": attend(
            module, q, k, v, own_chunk
        ),
        "the causal mask is not shifted by the cache length: new token t is treated as "
        "position t instead of T_past + t, so it sees only the first keys": attend(
            module, q, k, v, not_offset
        ),
        "there is no causal mask when a cache is given: new tokens see the later tokens of "
        "their own piece": attend(module, q, k, v, unmasked_chunk),
        "there is no causal mask at all": attend(
            module, q, k, v, torch.ones(total, total, dtype=torch.bool)
        ),
    }


def check_pieces(module, x: torch.Tensor, sizes: list[int], what: str) -> None:
    with torch.no_grad():
        out = run_in_pieces(module, x, sizes)
        mistake = closest_match(out, piece_mistakes(module, x, sizes))
        expected = reference(module, x)
    assert_close(
        out,
        expected,
        what=what,
        hint=f"It matches what you get when {mistake}."
        if mistake
        else "Each new token must see every cached token and the new tokens up to itself.",
    )


def test_full_forward_matches_reference() -> None:
    module = make()
    check_pieces(module, inputs(2, 5, 12), [5], what="the output of one call on 5 tokens")


def test_full_forward_returns_its_keys_and_values() -> None:
    module = make()
    x = inputs(2, 5, 12, seed=2)
    with torch.no_grad():
        _, (keys, values) = step(module, x, None, past_len=0)
        _, k, v = projections(module, x)
    hint = "The cache holds self.key(x) and self.value(x), split into heads: (B, H, T, hd)."
    assert_close(keys, k, what="the cached keys", hint=hint)
    assert_close(values, v, what="the cached values", hint=hint)


def test_single_token_without_cache() -> None:
    module = make(n_embd=8, n_head=2)
    x = inputs(3, 1, 8, seed=3)
    with torch.no_grad():
        out, _ = step(module, x, None, past_len=0)
        expected = linear(module.proj, linear(module.value, x))
    assert_close(
        out,
        expected,
        what="the output for a single token",
        hint="One token sees only itself: its output is proj(value(x)).",
    )


def test_token_by_token_matches_full_forward() -> None:
    module = make()
    check_pieces(
        module,
        inputs(2, 6, 12, seed=4),
        [1] * 6,
        what="the outputs of 6 tokens fed one at a time",
    )


def test_prefill_then_tokens_matches_full_forward() -> None:
    module = make(seed=1)
    check_pieces(
        module,
        inputs(2, 7, 12, seed=5),
        [4, 1, 1, 1],
        what="the outputs of a 4-token prompt followed by 3 single tokens",
    )


def test_chunks_after_prefill_match_full_forward() -> None:
    module = make(n_embd=8, n_head=2, seed=2)
    check_pieces(
        module,
        inputs(2, 7, 8, seed=6),
        [2, 3, 2],
        what="the outputs of pieces of 2, 3 and 2 tokens",
    )


def test_cache_grows_by_the_number_of_new_tokens() -> None:
    module = make()
    x = inputs(2, 6, 12, seed=7)
    with torch.no_grad():
        _, cache = step(module, x[:, :3], None, past_len=0)
        _, cache = step(module, x[:, 3:4], cache, past_len=3)
        step(module, x[:, 4:6], cache, past_len=4)


def test_past_cache_entries_are_kept_unchanged() -> None:
    module = make(seed=3)
    x = inputs(1, 5, 12, seed=8)
    with torch.no_grad():
        _, (old_k, old_v) = step(module, x[:, :3], None, past_len=0)
        _, (new_k, new_v) = step(module, x[:, 3:], (old_k, old_v), past_len=3)
        _, k, v = projections(module, x[:, 3:])
    for name, old, new, fresh in (("keys", old_k, new_k, k), ("values", old_v, new_v, v)):
        assert_close(
            new[:, :, :3],
            old,
            what=f"the first 3 positions of the new cached {name}",
            hint="The new cache starts with the old cache, untouched: the past is not redone.",
        )
        assert_close(
            new[:, :, 3:],
            fresh,
            what=f"the last 2 positions of the new cached {name}",
            hint="After the old entries come the new tokens' own keys and values.",
        )


def test_attends_to_the_cache_it_is_given() -> None:
    # A cache that no input could have produced: the output must follow it, which shows
    # that the module reads the past from the cache instead of recomputing it.
    module = make()
    past_k, past_v = inputs(2, 3, 4, 4, seed=9), inputs(2, 3, 4, 4, seed=10)
    x = inputs(2, 2, 12, seed=11)
    with torch.no_grad():
        out, new_cache = step(module, x, (past_k, past_v), past_len=4, check_cache=False)
        expected = reference_from_cache(module, past_k, past_v, x)
        q, k, v = projections(module, x)
        k_all = torch.cat([past_k.to(DOUBLE), k], dim=2)
        v_all = torch.cat([past_v.to(DOUBLE), v], dim=2)
        not_offset = torch.arange(6)[None, :] <= torch.arange(2)[:, None]
        mistakes = {
            "the given cache is ignored: the new tokens only attend among themselves": attend(
                module, q, k, v, visible(0, 2)
            ),
            "the causal mask is not shifted by the cache length: new token t is treated as "
            "position t instead of T_past + t": attend(module, q, k_all, v_all, not_offset),
            "there is no causal mask when a cache is given: the first new token also sees the "
            "second": attend(module, q, k_all, v_all, torch.ones(2, 6, dtype=torch.bool)),
        }
        mistake = closest_match(out, mistakes)
    assert_close(
        out,
        expected,
        what="the output of 2 new tokens after a given cache of 4 tokens",
        hint=f"It matches what you get when {mistake}."
        if mistake
        else "The 2 new tokens are positions 4 and 5: the first sees all 4 cached keys and "
        "itself, the second sees everything.",
    )
    check_cache_shapes(new_cache, expected_cache_shape(module, x, 4), past_len=4, new_len=2)


def test_future_tokens_do_not_change_past_outputs() -> None:
    module = make()
    x = inputs(1, 6, 12, seed=12)
    changed = x.clone()
    changed[:, 4:] += 3.0
    with torch.no_grad():
        out, _ = step(module, x, None, past_len=0)
        out_changed, _ = step(module, changed, None, past_len=0)
    assert_close(
        out_changed[:, :4],
        out[:, :4],
        what="the outputs of tokens 0-3 after changing tokens 4-5",
        hint="Token t may only see tokens 0..t: mask the future keys before the softmax.",
    )
