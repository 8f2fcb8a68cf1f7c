"""Tests for exercise 14: a pre-LayerNorm transformer block.

Every expected value is computed here in float64 from the learner's own parameters (both
LayerNorms, the four attention layers and the two MLP layers), so the tests judge the
learner's forward pass, not a copy of it.
"""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from problem import CausalSelfAttention, TransformerBlock
from tutor.kit import assert_close, assert_shape, closest_match

ATTN_LAYERS = ("query", "key", "value", "proj")


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def make_block(
    n_embd: int = 16, n_head: int = 4, block_size: int = 8, seed: int = 0
) -> TransformerBlock:
    torch.manual_seed(seed)
    block = TransformerBlock(n_embd, n_head, block_size)
    # A fresh LayerNorm has weight 1 and bias 0, so ln1 and ln2 would be identical and a
    # block that used the wrong one would go unnoticed. Give each its own values.
    generator = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name in ("ln1", "ln2"):
            norm = getattr(block, name, None)
            if isinstance(norm, nn.LayerNorm) and norm.weight is not None:
                norm.weight.copy_(1 + 0.5 * torch.randn(norm.weight.shape, generator=generator))
                norm.bias.copy_(0.5 * torch.randn(norm.bias.shape, generator=generator))
    return block


# ---------------------------------------------------------------- float64 reference


def parts(block: TransformerBlock) -> tuple[nn.Module, ...]:
    """(ln1, attn, ln2, first MLP Linear, last MLP Linear), or a clear failure."""
    for name in ("ln1", "attn", "ln2", "mlp"):
        if not isinstance(getattr(block, name, None), nn.Module):
            pytest.fail(f"the block has no sub-module self.{name}; create it in __init__")
    for name in ("ln1", "ln2"):
        if not isinstance(getattr(block, name), nn.LayerNorm):
            pytest.fail(f"self.{name} should be an nn.LayerNorm(n_embd)")
    for name in ATTN_LAYERS:
        if not isinstance(getattr(block.attn, name, None), nn.Linear):
            pytest.fail(f"self.attn.{name} should be an nn.Linear(n_embd, n_embd)")
    linears = [layer for layer in block.mlp.modules() if isinstance(layer, nn.Linear)]
    if len(linears) != 2:
        pytest.fail(
            f"self.mlp holds {len(linears)} nn.Linear layers; it should hold two: "
            "Linear(n_embd, 4 * n_embd), then GELU(), then Linear(4 * n_embd, n_embd)"
        )
    return block.ln1, block.attn, block.ln2, linears[0], linears[1]


def linear64(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    bias = None if layer.bias is None else layer.bias.double()
    return F.linear(x, layer.weight.double(), bias)


def layer_norm64(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight.double() + norm.bias.double()


def attention64(
    attn: nn.Module, x: torch.Tensor, n_head: int, *, causal: bool = True, scale_by: str = "hd"
) -> torch.Tensor:
    """Causal multi-head attention of float64 ``x`` with the learner's four layers."""
    batch, length, channels = x.shape
    head_dim = channels // n_head

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, n_head, head_dim).transpose(1, 2)

    q, k, v = (split(linear64(getattr(attn, name), x)) for name in ("query", "key", "value"))
    scale = {"hd": 1 / math.sqrt(head_dim), "C": 1 / math.sqrt(channels), "none": 1.0}[scale_by]
    heads = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)
    return linear64(attn.proj, heads.transpose(1, 2).reshape(batch, length, channels))


def block_reference(
    block: TransformerBlock,
    x: torch.Tensor,
    n_head: int,
    *,
    arrangement: str = "pre-ln",
    causal: bool = True,
    scale_by: str = "hd",
    activation: str = "gelu",
) -> torch.Tensor:
    """The block in float64; the keyword arguments build the classic wrong versions."""
    ln1, attn, ln2, first, last = parts(block)
    x = x.double()
    activations = {
        "gelu": F.gelu,
        "none": lambda t: t,
        "tanh-gelu": lambda t: F.gelu(t, approximate="tanh"),
        "relu": F.relu,
    }

    def norm1(t: torch.Tensor) -> torch.Tensor:
        return layer_norm64(ln1, t)

    def norm2(t: torch.Tensor) -> torch.Tensor:
        return layer_norm64(ln2, t)

    def attend(t: torch.Tensor) -> torch.Tensor:
        return attention64(attn, t, n_head, causal=causal, scale_by=scale_by)

    def mlp(t: torch.Tensor) -> torch.Tensor:
        return linear64(last, activations[activation](linear64(first, t)))

    if arrangement == "pre-ln":
        x = x + attend(norm1(x))
        return x + mlp(norm2(x))
    if arrangement == "post-ln":
        x = norm1(x + attend(x))
        return norm2(x + mlp(x))
    if arrangement == "no-attn-residual":
        x = attend(norm1(x))
        return x + mlp(norm2(x))
    if arrangement == "no-mlp-residual":
        x = x + attend(norm1(x))
        return mlp(norm2(x))
    if arrangement == "no-residuals":
        return mlp(norm2(attend(norm1(x))))
    if arrangement == "normalise-once":
        h = norm1(x)
        return x + attend(h) + mlp(h)
    if arrangement == "ln1-twice":
        x = x + attend(norm1(x))
        return x + mlp(norm1(x))
    if arrangement == "attn-on-raw-x":
        x = x + attend(x)
        return x + mlp(norm2(x))
    if arrangement == "no-layernorm":
        x = x + attend(x)
        return x + mlp(x)
    raise ValueError(arrangement)


def known_mistakes(
    block: TransformerBlock, x: torch.Tensor, n_head: int
) -> dict[str, torch.Tensor]:
    """What the classic wrong blocks would return on ``x``."""

    def wrong(**changes: object) -> torch.Tensor:
        return block_reference(block, x, n_head, **changes)  # type: ignore[arg-type]

    return {
        "the LayerNorm is applied to the stream after the residual add, "
        "x = ln1(x + attn(x)) (post-LN); in a pre-LN block only the copy that goes INTO the "
        "sub-layer is normalised: x = x + attn(ln1(x))": wrong(arrangement="post-ln"),
        "the attention result replaces x instead of being added to it; "
        "write x = x + attn(ln1(x))": wrong(arrangement="no-attn-residual"),
        "the MLP result replaces x instead of being added to it; write x = x + mlp(ln2(x))": wrong(
            arrangement="no-mlp-residual"
        ),
        "neither sub-layer adds its result to x: both residual connections are missing": wrong(
            arrangement="no-residuals"
        ),
        "x is normalised once and the same ln1(x) feeds both the attention and the MLP; "
        "the MLP must read ln2 of the UPDATED x, after attention has been added": wrong(
            arrangement="normalise-once"
        ),
        "ln1 is used in front of the MLP too; the MLP has its own LayerNorm, ln2": wrong(
            arrangement="ln1-twice"
        ),
        "the attention reads x itself instead of ln1(x): write x = x + attn(ln1(x))": wrong(
            arrangement="attn-on-raw-x"
        ),
        "neither sub-layer normalises its input: use ln1 before attn and ln2 before mlp": wrong(
            arrangement="no-layernorm"
        ),
        "the attention has no causal mask, so every token also reads the tokens after it": wrong(
            causal=False
        ),
        "the attention scores are divided by sqrt(n_embd); each head works in head_dim "
        "dimensions, so divide by sqrt(head_dim)": wrong(scale_by="C"),
        "the attention scores are not scaled; divide them by sqrt(head_dim)": wrong(
            scale_by="none"
        ),
        "the MLP has no GELU between its two Linear layers, so the two collapse into one "
        "linear map": wrong(activation="none"),
        "the MLP uses the tanh approximation of GELU; nn.GELU() with its default "
        "(exact) form is expected": wrong(activation="tanh-gelu"),
        "the MLP uses ReLU instead of GELU": wrong(activation="relu"),
    }


def explain(mistake: str | None, otherwise: str = "") -> str:
    return f"It matches what you get when {mistake}." if mistake else otherwise


def diagnose(
    out: torch.Tensor, expected: torch.Tensor, block: TransformerBlock, x: torch.Tensor, n_head: int
) -> str | None:
    """Name the known mistake that ``out`` matches; only worked out when ``out`` is wrong."""
    if out.shape == expected.shape and torch.allclose(
        out.detach().double(), expected, atol=1e-5, rtol=1e-4
    ):
        return None
    with torch.no_grad():
        return closest_match(out, known_mistakes(block, x, n_head))


# ---------------------------------------------------------------- running the learner's code


def call(module: nn.Module, x: torch.Tensor, block_size: int, what: str) -> torch.Tensor:
    """Call forward and turn the usual crashes into messages about the block."""
    try:
        with torch.no_grad():
            result = module(x)
    except NotImplementedError:
        raise
    except (RuntimeError, IndexError, ValueError, TypeError) as error:
        advice = ""
        length = x.shape[1]
        if isinstance(error, TypeError) and "tuple" in str(error):
            advice = (
                " Here CausalSelfAttention.forward returns only the output tensor, not the "
                "pair (output, weights) of earlier exercises."
            )
        if length < block_size and str(block_size) in str(error):
            advice = (
                f" The mask is ({block_size}, {block_size}) but the scores are only "
                f"({length}, {length}) here: use the top-left corner of the mask, "
                "self.mask[:T, :T]."
            )
        name, shape, detail = type(error).__name__, tuple(x.shape), str(error).rstrip(".")
        pytest.fail(f"{what} raised {name} for x of shape {shape}: {detail}.{advice}")
    if isinstance(result, tuple):
        pytest.fail(f"{what} should return one tensor of shape (B, T, C), not a tuple")
    assert_shape(result, tuple(x.shape), what=f"the output of {what}")
    return result


def check_block(block: TransformerBlock, x: torch.Tensor, n_head: int, block_size: int) -> None:
    """Compare the block's output with the float64 reference, naming a known mistake."""
    out = call(block, x, block_size, "the block")
    with torch.no_grad():
        expected = block_reference(block, x, n_head)
    mistake = diagnose(out, expected, block, x, n_head)
    hint = explain(mistake)
    assert_close(out, expected, what="the block's output", hint=hint)


def silence(block: TransformerBlock, *, attn: bool = False, mlp: bool = False) -> None:
    """Zero the last layer of a sub-layer, so that sub-layer outputs exactly zero."""
    _, attention, _, _, last = parts(block)
    with torch.no_grad():
        for chosen, layer in ((attn, attention.proj), (mlp, last)):
            if chosen:
                layer.weight.zero_()
                if layer.bias is not None:
                    layer.bias.zero_()


# ---------------------------------------------------------------- tests


def test_attention_has_projections_and_mask_buffer() -> None:
    torch.manual_seed(0)
    attn = CausalSelfAttention(12, 3, 6)
    for name in ATTN_LAYERS:
        layer = getattr(attn, name, None)
        assert isinstance(layer, nn.Linear), f"self.{name} should be an nn.Linear"
        assert (layer.in_features, layer.out_features) == (12, 12), (
            f"self.{name} maps {layer.in_features} to {layer.out_features} features; "
            "it should map n_embd to n_embd (12 to 12 here)"
        )
        assert layer.bias is not None, f"self.{name} should have a bias (the nn.Linear default)"
    buffers = dict(attn.named_buffers())
    if "mask" not in buffers:
        pytest.fail(
            "CausalSelfAttention has no buffer named 'mask'; build it in __init__ with "
            "self.register_buffer('mask', ...) so it moves and is saved with the module"
        )
    mask = buffers["mask"]
    if tuple(mask.shape[-2:]) != (6, 6) or mask.numel() != 36:
        pytest.fail(
            f"the mask has shape {tuple(mask.shape)}; it should be (block_size, block_size), "
            "(6, 6) here"
        )
    allowed = mask.reshape(6, 6) != 0
    if not torch.equal(allowed, torch.ones(6, 6).tril().bool()):
        pytest.fail(
            "the mask should be lower-triangular: ones on and below the diagonal (the keys "
            "query i may see), zeros above it"
        )


def test_attention_matches_causal_reference() -> None:
    torch.manual_seed(1)
    attn = CausalSelfAttention(16, 4, 8)
    x = inputs(2, 8, 16, seed=2)
    out = call(attn, x, 8, "CausalSelfAttention")
    with torch.no_grad():
        expected = attention64(attn, x.double(), 4)
        mistakes = {
            "there is no causal mask: tokens also read the tokens after them": attention64(
                attn, x.double(), 4, causal=False
            ),
            "the scores are divided by sqrt(n_embd) instead of sqrt(head_dim)": attention64(
                attn, x.double(), 4, scale_by="C"
            ),
            "the scores are not scaled by 1 / sqrt(head_dim)": attention64(
                attn, x.double(), 4, scale_by="none"
            ),
        }
        mistake = closest_match(out, mistakes)
    hint = explain(
        mistake,
        "This is the multi-head attention of exercise 06 plus the causal mask of exercise 04.",
    )
    assert_close(out, expected, what="the output of CausalSelfAttention", hint=hint)


def test_block_has_its_sublayers() -> None:
    block = make_block(n_embd=12, n_head=3, block_size=6)
    for name in ("ln1", "ln2"):
        norm = getattr(block, name, None)
        assert isinstance(norm, nn.LayerNorm), f"self.{name} should be an nn.LayerNorm"
        assert tuple(norm.normalized_shape) == (12,), (
            f"self.{name} normalises over {tuple(norm.normalized_shape)}; it should normalise "
            "each token's n_embd features: nn.LayerNorm(n_embd), (12,) here"
        )
    assert block.ln1 is not block.ln2, (
        "self.ln1 and self.ln2 are the same module; each sub-layer needs its own LayerNorm"
    )
    attn = getattr(block, "attn", None)
    assert isinstance(attn, nn.Module), "self.attn should be a CausalSelfAttention"
    for name in ATTN_LAYERS:
        layer = getattr(attn, name, None)
        if not (isinstance(layer, nn.Linear) and layer.in_features == layer.out_features == 12):
            pytest.fail(
                f"self.attn.{name} should be an nn.Linear(n_embd, n_embd); build self.attn as "
                "CausalSelfAttention(n_embd, n_head, block_size)"
            )
    mlp = getattr(block, "mlp", None)
    assert isinstance(mlp, nn.Sequential), "self.mlp should be an nn.Sequential"
    kinds = ", ".join(type(layer).__name__ for layer in mlp)
    layers = list(mlp)
    kinds_wanted = (nn.Linear, nn.GELU, nn.Linear)
    if len(layers) != 3 or not all(map(isinstance, layers, kinds_wanted)):
        pytest.fail(
            f"self.mlp holds ({kinds}); it should hold (Linear, GELU, Linear): without the "
            "GELU the two Linear layers collapse into a single linear map"
        )
    sizes = [(layers[0].in_features, layers[0].out_features)]
    sizes.append((layers[2].in_features, layers[2].out_features))
    assert sizes == [(12, 48), (48, 12)], (
        f"the MLP's Linear layers map {sizes[0][0]} -> {sizes[0][1]} and "
        f"{sizes[1][0]} -> {sizes[1][1]}; they should widen to 4 * n_embd and come back: "
        "12 -> 48 and 48 -> 12 here"
    )


def test_attention_sublayer_adds_to_the_input() -> None:
    # With the MLP's last layer zeroed the MLP adds nothing, so the block is
    # x + attn(ln1(x)) and only the attention sub-layer is on trial.
    block = make_block(seed=3)
    silence(block, mlp=True)
    x = inputs(2, 6, 16, seed=4)
    out = call(block, x, 8, "the block")
    with torch.no_grad():
        ln1, attn, _, _, _ = parts(block)
        expected = x.double() + attention64(attn, layer_norm64(ln1, x.double()), 4)
    mistake = diagnose(out, expected, block, x, 4)
    hint = explain(mistake, "With the MLP silenced the block should be x + attn(ln1(x)).")
    assert_close(out, expected, what="the block's output with the MLP silenced", hint=hint)


def test_mlp_sublayer_adds_to_the_input() -> None:
    # With attn.proj zeroed the attention adds nothing, so the block is x + mlp(ln2(x))
    # and only the MLP sub-layer is on trial.
    block = make_block(seed=5)
    silence(block, attn=True)
    x = inputs(2, 6, 16, seed=6)
    out = call(block, x, 8, "the block")
    with torch.no_grad():
        _, _, ln2, first, last = parts(block)
        hidden = F.gelu(linear64(first, layer_norm64(ln2, x.double())))
        expected = x.double() + linear64(last, hidden)
    mistake = diagnose(out, expected, block, x, 4)
    hint = explain(mistake, "With the attention silenced the block should be x + mlp(ln2(x)).")
    assert_close(out, expected, what="the block's output with the attention silenced", hint=hint)


def test_zeroed_output_layers_make_the_block_the_identity() -> None:
    # Both sub-layers silenced: each adds exactly zero, so x must come out unchanged.
    block = make_block(seed=7)
    silence(block, attn=True, mlp=True)
    x = inputs(2, 5, 16, seed=8)
    out = call(block, x, 8, "the block")
    mistake = diagnose(out, x.double(), block, x, 4)
    hint = explain(mistake, "Something outside the residual branches changes x.")
    assert_close(
        out,
        x,
        what="the block's output with attn.proj and the last MLP layer set to zero",
        hint="With both sub-layers adding zero the block should return x unchanged: the "
        f"stream itself is never normalised or replaced. {hint}",
    )


def test_block_matches_reference() -> None:
    check_block(make_block(seed=9), inputs(2, 8, 16, seed=10), n_head=4, block_size=8)


def test_shorter_sequence_than_block_size() -> None:
    # T = 4 < block_size = 10, and T == head_dim so a missing transpose is shape-silent.
    block = make_block(n_embd=16, n_head=4, block_size=10, seed=11)
    check_block(block, inputs(3, 4, 16, seed=12), n_head=4, block_size=10)


def test_single_token_matches_reference() -> None:
    block = make_block(n_embd=12, n_head=3, block_size=6, seed=13)
    check_block(block, inputs(3, 1, 12, seed=14), n_head=3, block_size=6)


def test_future_tokens_do_not_change_past_outputs() -> None:
    block = make_block(seed=15)
    x = inputs(2, 7, 16, seed=16)
    changed = x.clone()
    changed[:, 4:] = 5.0 * inputs(2, 3, 16, seed=17)  # rewrite tokens 4, 5 and 6
    out = call(block, x, 8, "the block")
    out_changed = call(block, changed, 8, "the block")
    assert_close(
        out_changed[:, :4],
        out[:, :4],
        what="the block's output for tokens 0-3 after changing tokens 4-6",
        hint="In a causal block a token may only read itself and earlier tokens: the "
        "attention must hide the keys after each query. The MLP and the LayerNorms work on "
        "each token alone, so they cannot leak the future.",
    )


def test_batch_items_are_independent() -> None:
    block = make_block(seed=18)
    x = inputs(4, 6, 16, seed=19)
    together = call(block, x, 8, "the block")
    alone = call(block, x[2:3], 8, "the block")
    assert_close(
        together[2:3],
        alone,
        what="batch item 2 computed together with the others",
        hint="Each sequence in a batch must be processed on its own: LayerNorm normalises "
        "each token's features (the last dimension), and attention stays within one sequence.",
    )
