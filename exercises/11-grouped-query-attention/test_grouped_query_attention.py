"""Tests for exercise 11: grouped-query attention (non-causal).

Every expected value is computed here in float64 from the learner's own layers, with query
head h reading key/value head h // (n_head // n_kv_head).
"""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from problem import GroupedQueryAttention
from tutor.kit import assert_close, assert_rows_sum_to_one, assert_shape, closest_match


def make(n_embd: int, n_head: int, n_kv_head: int, seed: int = 0) -> GroupedQueryAttention:
    torch.manual_seed(seed)
    return GroupedQueryAttention(n_embd, n_head, n_kv_head)


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def check_layer_sizes(module: GroupedQueryAttention, n_embd: int, n_head: int, n_kv: int) -> None:
    kv_width = n_kv * (n_embd // n_head)
    wanted = {"query": n_embd, "key": kv_width, "value": kv_width, "proj": n_embd}
    for name, out_features in wanted.items():
        layer = getattr(module, name, None)
        assert isinstance(layer, nn.Linear), f"self.{name} should be an nn.Linear"
        assert layer.bias is not None, f"self.{name} should have a bias (the nn.Linear default)"
        got = (layer.in_features, layer.out_features)
        assert got == (n_embd, out_features), (
            f"with n_embd={n_embd}, n_head={n_head}, n_kv_head={n_kv}, self.{name} maps "
            f"{got[0]} to {got[1]} features; it should map {n_embd} to {out_features}"
            + (
                f" (n_kv_head * head_size = {n_kv} * {n_embd // n_head}: keys and values "
                "only have n_kv_head heads)"
                if name in ("key", "value")
                else ""
            )
        )


def linear64(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x.double(), layer.weight.double(), layer.bias.double())


def heads(t: torch.Tensor, n: int) -> torch.Tensor:
    """(B, T, n * hd) -> (B, n, T, hd)."""
    B, T, width = t.shape
    return t.view(B, T, n, width // n).transpose(1, 2)


def reference(
    module: GroupedQueryAttention, x: torch.Tensor, n_head: int, n_kv: int, **mistake: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 (output, weights); keyword flags switch on one known mistake."""
    B, T, C = x.shape
    hd = C // n_head
    q, k, v = (linear64(getattr(module, n), x) for n in ("query", "key", "value"))
    if mistake.get("no_split_transpose"):
        q, k, v = q.reshape(B, n_head, T, hd), k.reshape(B, n_kv, T, hd), v.reshape(B, n_kv, T, hd)
    else:
        q, k, v = heads(q, n_head), heads(k, n_kv), heads(v, n_kv)
    group = n_head // n_kv
    if mistake.get("tiled_order"):
        k, v = k.repeat(1, group, 1, 1), v.repeat(1, group, 1, 1)
    else:
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scale = C if mistake.get("scale_by_n_embd") else n_kv * hd if mistake.get("scale_by_kv") else hd
    scores = q @ k.transpose(-2, -1) / scale**0.5
    weights = torch.softmax(scores, dim=-2 if mistake.get("softmax_queries") else -1)
    out = weights @ v
    if mistake.get("no_merge_transpose"):
        out = out.reshape(B, T, C)
    else:
        out = out.transpose(1, 2).reshape(B, T, C)
    if not mistake.get("no_proj"):
        out = linear64(module.proj, out)
    return out, weights


MISTAKES = {
    "tiled_order": "the key/value heads are repeated as a whole block (0, 1, 0, 1, ...) instead "
    "of each head several times in a row (0, 0, 1, 1, ...): query head h must read kv head "
    "h // (n_head // n_kv_head); use repeat_interleave on the head axis, not repeat",
    "scale_by_n_embd": "the scores are divided by sqrt(n_embd) instead of sqrt(head size)",
    "scale_by_kv": "the scores are divided by sqrt(n_kv_head * head size) instead of "
    "sqrt(head size)",
    "no_split_transpose": "the heads are split with a plain view to (B, heads, T, head size): "
    "view to (B, T, heads, head size) first, then transpose(1, 2)",
    "no_merge_transpose": "the heads are merged with a plain reshape of (B, n_head, T, head size) "
    "to (B, T, C): transpose(1, 2) back first",
    "no_proj": "the output projection self.proj is not applied at the end",
    "softmax_queries": "the softmax runs over the queries (dim=-2) instead of the keys (dim=-1)",
}


def diagnose(actual: torch.Tensor, module, x, n_head: int, n_kv: int, *, index: int) -> str:
    candidates = {
        text: reference(module, x, n_head, n_kv, **{flag: True})[index]
        for flag, text in MISTAKES.items()
    }
    mistake = closest_match(actual, candidates)
    return f"It matches what you get when {mistake}." if mistake else ""


def compare(actual, expected, module, x, n_head: int, n_kv: int, *, what: str, index: int) -> None:
    hint = ""
    if actual.shape == expected.shape and not torch.allclose(
        actual.double(), expected, atol=1e-5, rtol=1e-4
    ):
        hint = diagnose(actual, module, x, n_head, n_kv, index=index)
    assert_close(actual, expected, what=what, hint=hint)


def check_against_reference(
    n_embd: int, n_head: int, n_kv: int, B: int, T: int, seed: int = 0
) -> None:
    module = make(n_embd, n_head, n_kv, seed=seed)
    check_layer_sizes(module, n_embd, n_head, n_kv)
    x = inputs(B, T, n_embd, seed=seed + 1)
    with torch.no_grad():
        out, weights = module(x)
        expected_out, expected_weights = reference(module, x, n_head, n_kv)
        assert_shape(out, (B, T, n_embd), what="the output")
        assert_shape(weights, (B, n_head, T, T), what="the attention weights")
        compare(
            weights,
            expected_weights,
            module,
            x,
            n_head,
            n_kv,
            what="the attention weights tensor",
            index=1,
        )
        compare(out, expected_out, module, x, n_head, n_kv, what="the output", index=0)


def test_projection_sizes() -> None:
    check_layer_sizes(make(24, 6, 2), 24, 6, 2)
    check_layer_sizes(make(16, 4, 1), 16, 4, 1)


def test_output_and_weight_shapes() -> None:
    module = make(24, 6, 2)
    with torch.no_grad():
        result = module(inputs(2, 5, 24))
    assert isinstance(result, tuple), "forward should return a pair (output, weights)"
    assert len(result) == 2, "forward should return a pair (output, weights)"
    out, weights = result
    assert_shape(out, (2, 5, 24), what="the output for an input of shape (2, 5, 24)")
    assert_shape(weights, (2, 6, 5, 5), what="the attention weights (B, n_head, T, T)")


def test_weights_rows_sum_to_one() -> None:
    module = make(24, 6, 3)
    with torch.no_grad():
        _, weights = module(inputs(2, 7, 24, seed=2))
    assert_shape(weights, (2, 6, 7, 7), what="the attention weights (B, n_head, T, T)")
    assert_rows_sum_to_one(weights)


def test_multi_head_case_matches_reference() -> None:
    # n_kv_head == n_head: every query head has its own key/value head.
    check_against_reference(16, 4, 4, B=2, T=5)


def test_multi_query_case_matches_reference() -> None:
    # n_kv_head == 1: all query heads read the same single key/value head.
    check_against_reference(16, 4, 1, B=2, T=6, seed=3)


def test_grouped_case_matches_reference() -> None:
    # 6 query heads in 2 groups of 3: heads 0, 1, 2 read kv head 0; heads 3, 4, 5 read kv head 1.
    check_against_reference(24, 6, 2, B=2, T=5, seed=5)


def test_pairs_of_heads_match_reference() -> None:
    # 4 query heads in 2 groups of 2, with head size 8 != sequence length 3.
    check_against_reference(32, 4, 2, B=3, T=3, seed=7)


def test_query_heads_share_kv_heads_in_contiguous_groups() -> None:
    # Give every query head the same query projection. Then head h's weights depend only on
    # which key/value head it reads, so heads in the same group must have equal weights.
    n_embd, n_head, n_kv = 24, 6, 2
    hd, group = n_embd // n_head, n_head // n_kv
    module = make(n_embd, n_head, n_kv, seed=9)
    check_layer_sizes(module, n_embd, n_head, n_kv)
    with torch.no_grad():
        module.query.weight.copy_(module.query.weight[:hd].repeat(n_head, 1))
        module.query.bias.copy_(module.query.bias[:hd].repeat(n_head))
        _, weights = module(inputs(1, 5, n_embd, seed=10))
    assert_shape(weights, (1, n_head, 5, 5), what="the attention weights (B, n_head, T, T)")
    for h in range(n_head):
        first = (h // group) * group
        if not torch.allclose(weights[0, h], weights[0, first], atol=1e-5, rtol=1e-4):
            pytest.fail(
                f"all query heads were given the same query vectors, so query heads {first} "
                f"and {h} (both in group {h // group}, both reading kv head {h // group}) "
                "should have equal attention weights, but they differ. Query head h reads kv head "
                f"h // {group}: with "
                f"n_head={n_head} and n_kv_head={n_kv}, the kv heads for query heads 0..5 must "
                "be 0, 0, 0, 1, 1, 1 (repeat_interleave), not 0, 1, 0, 1, 0, 1 (repeat)"
            )
    assert not torch.allclose(weights[0, 0], weights[0, group], atol=1e-5, rtol=1e-4), (
        f"query heads 0 and {group} read different key/value heads (0 and 1), so their weights "
        "should differ, but they are equal: are both groups reading the same kv head?"
    )


def test_grouped_equals_multi_head_with_copied_kv_heads() -> None:
    # A grouped module is an ordinary multi-head module whose key/value heads come in
    # identical copies: kv head g copied for each query head of group g.
    n_embd, n_head, n_kv = 16, 4, 2
    hd, group = n_embd // n_head, n_head // n_kv
    gqa = make(n_embd, n_head, n_kv, seed=11)
    mha = make(n_embd, n_head, n_head, seed=12)
    check_layer_sizes(gqa, n_embd, n_head, n_kv)
    check_layer_sizes(mha, n_embd, n_head, n_head)
    with torch.no_grad():
        for name in ("query", "proj"):
            getattr(mha, name).load_state_dict(getattr(gqa, name).state_dict())
        for name in ("key", "value"):
            weight = getattr(gqa, name).weight.view(n_kv, hd, n_embd)
            bias = getattr(gqa, name).bias.view(n_kv, hd)
            getattr(mha, name).weight.copy_(weight.repeat_interleave(group, 0).reshape(-1, n_embd))
            getattr(mha, name).bias.copy_(bias.repeat_interleave(group, 0).reshape(-1))
        x = inputs(2, 4, n_embd, seed=13)
        grouped, _ = gqa(x)
        multi_head, _ = mha(x)
    assert_close(
        grouped,
        multi_head,
        what="the grouped output",
        hint="A multi-head module with kv heads (0, 0, 1, 1) copied from your grouped module "
        "gives a different output: query heads 0 and 1 should read kv head 0, heads 2 and 3 "
        "kv head 1.",
    )


def test_single_token() -> None:
    # One token, one key: every head's weight is 1, so the output is proj(v, heads shared).
    check_against_reference(24, 6, 3, B=3, T=1, seed=14)


def test_permuting_tokens_permutes_outputs() -> None:
    # Non-causal and no positions: shuffling the tokens only shuffles the outputs.
    module = make(24, 6, 2, seed=15)
    x = inputs(1, 6, 24, seed=16)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        out, _ = module(x)
        shuffled, _ = module(x[:, order])
    assert_close(
        shuffled,
        out[:, order],
        what="the output for shuffled tokens",
        hint="Reordering the tokens should only reorder the outputs. If the tokens got mixed, "
        "check how the features are split into heads and merged back.",
    )


def test_rejects_head_counts_that_do_not_divide() -> None:
    # 6 query heads cannot be split into 4 equal groups; the message should talk about heads.
    with pytest.raises(ValueError, match=r"(?i)head"):
        GroupedQueryAttention(24, 6, 4)
