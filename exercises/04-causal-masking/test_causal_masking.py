"""Tests for exercise 04: causal self-attention with a registered lower-triangular mask.

Every expected value is computed here in float64 from the learner's own layers (or with
torch.nn.functional.scaled_dot_product_attention and is_causal=True), so the tests judge the
learner's forward pass, not a copy of it.
"""

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from problem import CausalSelfAttention
from tutor.kit import assert_close, assert_shape, closest_match


def make(n_embd: int = 8, block_size: int = 8, seed: int = 0) -> CausalSelfAttention:
    torch.manual_seed(seed)
    return CausalSelfAttention(n_embd, block_size)


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def run(module: CausalSelfAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Call forward and turn the usual crashes into messages about attention."""
    block_size = (
        module.mask.shape[-1] if isinstance(getattr(module, "mask", None), torch.Tensor) else None
    )
    try:
        with torch.no_grad():
            result = module(x)
    except NotImplementedError:
        raise
    except (RuntimeError, IndexError) as error:
        advice = ""
        if block_size is not None and x.shape[1] < block_size and str(block_size) in str(error):
            advice = (
                f" The mask is ({block_size}, {block_size}) but the scores are only "
                f"({x.shape[1]}, {x.shape[1]}) here: slice the mask to its first T rows and "
                "columns, self.mask[:T, :T]."
            )
        name, shape, detail = type(error).__name__, tuple(x.shape), str(error).rstrip(".")
        pytest.fail(f"forward raised {name} for x of shape {shape}: {detail}.{advice}")
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail("forward should return a pair: (output, weights)")
    return result


def projections(module: CausalSelfAttention, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x64 = x.double()
    return tuple(
        F.linear(x64, layer.weight.double(), layer.bias.double())
        for layer in (module.query, module.key, module.value)
    )


def masked_softmax(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)


def reference(module: CausalSelfAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    q, k, v = projections(module, x)
    T = x.shape[1]
    weights = masked_softmax(q @ k.mT / math.sqrt(x.shape[-1]), torch.ones(T, T).tril().bool())
    return weights @ v, weights


def known_mistakes(module: CausalSelfAttention, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The weights that the classic wrong versions of forward would return on ``x``."""
    q, k, _ = projections(module, x)
    T = x.shape[1]
    scores = q @ k.mT / math.sqrt(x.shape[-1])
    ones = torch.ones(T, T, dtype=torch.float64)
    return {
        "there is no mask: every token sees the future": torch.softmax(scores, dim=-1),
        "the mask is applied after the softmax instead of before it": torch.softmax(scores, dim=-1)
        * ones.tril(),
        "the mask is upper-triangular: tokens see the future and not the past": masked_softmax(
            scores, ones.triu().bool()
        ),
        "the mask lets every token see one token into the future (diagonal=1)": masked_softmax(
            scores, ones.tril(diagonal=1).bool()
        ),
        "the scores are multiplied by the 0/1 mask instead of set to -inf": torch.softmax(
            scores * ones.tril(), dim=-1
        ),
        "the scores are not scaled by 1 / sqrt(C)": masked_softmax(q @ k.mT, ones.tril().bool()),
    }


def require_finite(weights: torch.Tensor) -> None:
    bad = ~torch.isfinite(weights.detach())
    if bool(bad.any()):
        b, i = (int(n) for n in bad.nonzero()[0][:2])
        pytest.fail(
            f"the weights of query {i} (batch item {b}) contain nan: every key of that row was "
            "set to -inf, so the softmax divides 0 by 0. Every token must be able to see "
            "itself: keep the diagonal in the mask (ones on AND below it)"
        )


def check_against_reference(module: CausalSelfAttention, x: torch.Tensor, what: str) -> None:
    out, weights = run(module, x)
    expected_out, expected_weights = reference(module, x)
    assert_shape(weights, tuple(expected_weights.shape), what=f"the weights {what}")
    require_finite(weights)
    mistake = closest_match(weights, known_mistakes(module, x))
    hint = f"It matches what you get when {mistake}." if mistake else ""
    assert_close(weights, expected_weights, what=f"the weights {what}", hint=hint)
    assert_close(out, expected_out, what=f"the output {what}", hint="The output is weights @ V.")


def test_layers_are_linear_projections() -> None:
    module = make(n_embd=12, block_size=6)
    for name in ("query", "key", "value"):
        layer = getattr(module, name, None)
        assert isinstance(layer, nn.Linear), f"self.{name} should be an nn.Linear"
        assert (layer.in_features, layer.out_features) == (12, 12), (
            f"self.{name} maps {layer.in_features} to {layer.out_features} features; "
            "it should map n_embd to n_embd (12 to 12 here)"
        )


def test_mask_is_a_registered_buffer() -> None:
    module = make(n_embd=4, block_size=6)
    buffers = dict(module.named_buffers())
    parameters = dict(module.named_parameters())
    if "mask" in parameters:
        pytest.fail(
            "self.mask is an nn.Parameter: the optimiser would train it. Use "
            "self.register_buffer('mask', ...) for a fixed tensor that belongs to the module"
        )
    if "mask" not in buffers:
        pytest.fail(
            "there is no buffer named 'mask': a tensor stored as a plain attribute does not "
            "move with module.to(...) and is not saved with the module. Use "
            "self.register_buffer('mask', ...) in __init__"
        )
    mask = buffers["mask"]
    if mask.numel() != 36 or tuple(mask.shape[-2:]) != (6, 6):
        pytest.fail(
            f"the mask has shape {tuple(mask.shape)}; build it once for the longest sequence, "
            "(block_size, block_size) = (6, 6) here"
        )
    allowed = mask.reshape(6, 6) != 0
    wanted = torch.ones(6, 6).tril().bool()
    if not torch.equal(allowed, wanted):
        wrong = (allowed != wanted).nonzero()[0]
        i, j = int(wrong[0]), int(wrong[1])
        where = "above" if j > i else ("on" if j == i else "below")
        pytest.fail(
            f"the mask at row {i}, column {j} ({where} the diagonal) is "
            f"{'nonzero' if bool(allowed[i, j]) else 'zero'}; it should be lower-triangular: "
            "ones on and below the diagonal (what query i may see), zeros above it"
        )


def test_mask_moves_with_the_module() -> None:
    module = copy.deepcopy(make(n_embd=4, block_size=6)).to("meta")
    mask = getattr(module, "mask", None)
    assert isinstance(mask, torch.Tensor), "the module should have a tensor attribute named mask"
    assert mask.device.type == "meta", (
        f"after module.to('meta') the mask is still on {mask.device}: register it with "
        "self.register_buffer('mask', ...) so it moves with the module, to a GPU for example"
    )


def test_output_and_weight_shapes() -> None:
    out, weights = run(make(n_embd=8, block_size=8), inputs(2, 5, 8))
    assert_shape(out, (2, 5, 8), what="the output for x of shape (2, 5, 8)")
    assert_shape(weights, (2, 5, 5), what="the weights for x of shape (2, 5, 8)")


def test_weights_rows_sum_to_one() -> None:
    _, weights = run(make(n_embd=8, block_size=8), inputs(2, 6, 8, seed=2))
    assert_shape(weights, (2, 6, 6), what="the weights for x of shape (2, 6, 8)")
    require_finite(weights)
    sums = weights.detach().double().sum(dim=-1)
    off = (sums - 1.0).abs() > 1e-5
    if bool(off.any()):
        b, i = (int(n) for n in off.nonzero()[0])
        pytest.fail(
            f"row {i} of the weights (batch item {b}) sums to {sums[b, i].item():.4g} over the "
            "keys; every row must sum to 1. Zeroing future weights after the softmax leaves "
            "each row short of 1: put -inf into the future scores before the softmax, which "
            "then runs over the last dimension (the keys)"
        )


def test_weights_are_zero_above_the_diagonal() -> None:
    _, weights = run(make(n_embd=8, block_size=8), inputs(2, 6, 8, seed=3))
    assert_shape(weights, (2, 6, 6), what="the weights for x of shape (2, 6, 8)")
    require_finite(weights)
    future = torch.ones(6, 6).triu(diagonal=1).bool()
    leaked = (weights.detach().double().abs() > 1e-9) & future
    if bool(leaked.any()):
        b, i, j = (int(n) for n in leaked.nonzero()[0])
        pytest.fail(
            f"query {i} (batch item {b}) gives weight {weights[b, i, j].item():.4g} to key {j}, "
            f"a token after it. Set the scores of future keys (column > row) to -inf before "
            "the softmax, so their weight is exactly 0"
        )


def test_first_token_attends_only_to_itself() -> None:
    module = make(n_embd=8, block_size=8)
    x = inputs(3, 4, 8, seed=4)
    out, weights = run(module, x)
    assert_shape(weights, (3, 4, 4), what="the weights for x of shape (3, 4, 8)")
    require_finite(weights)
    assert_close(
        weights[:, 0, 0],
        torch.ones(3, dtype=torch.float64),
        what="the weight of token 0 on itself",
        hint="Token 0 has nothing before it, so all of its attention goes to itself.",
    )
    with torch.no_grad():
        value = module.value(x[:, :1])
    assert_close(
        out[:, :1], value, what="the output of token 0", hint="It should be token 0's own value."
    )


def test_future_tokens_do_not_change_past_outputs() -> None:
    module = make(n_embd=8, block_size=8)
    x = inputs(2, 7, 8, seed=5)
    changed = x.clone()
    changed[:, 4:] = inputs(2, 3, 8, seed=6) * 5.0  # rewrite tokens 4, 5, 6
    out, _ = run(module, x)
    out_changed, _ = run(module, changed)
    assert_shape(out, (2, 7, 8), what="the output for x of shape (2, 7, 8)")
    assert_close(
        out_changed[:, :4],
        out[:, :4],
        what="the outputs of tokens 0-3 after changing tokens 4-6",
        hint="A token's output may depend only on itself and earlier tokens: mask the future.",
    )


def test_matches_reference() -> None:
    module = make(n_embd=8, block_size=8)
    check_against_reference(module, inputs(2, 8, 8, seed=7), "for T = block_size = C = 8")


def test_any_length_up_to_block_size() -> None:
    module = make(n_embd=6, block_size=10, seed=8)
    for T in (1, 4, 10):
        x = inputs(2, T, 6, seed=10 + T)
        check_against_reference(module, x, f"for T = {T} with block_size = 10")


def test_matches_torch_sdpa_with_is_causal() -> None:
    module = make(n_embd=8, block_size=12, seed=9)
    x = inputs(2, 9, 8, seed=20)
    out, _ = run(module, x)
    q, k, v = projections(module, x)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(
        out,
        expected,
        what="the output for T = 9 with block_size = 12",
        hint="It should equal PyTorch's scaled_dot_product_attention with is_causal=True.",
    )
