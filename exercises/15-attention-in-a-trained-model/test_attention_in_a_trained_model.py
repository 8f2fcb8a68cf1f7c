"""Tests for exercise 15: causal multi-head attention, alone and inside a trained model.

The first tests check the attention on its own, with random weights: every expected value is
computed here in float64 from the learner's own four nn.Linear layers. The others load the
learner's attention into the small trained language model beside this file and compare what
the model does with what it did with the reference when it was trained (tiny_lm.json): its
loss on held-out text, the text it writes, and the jobs its heads do.
"""

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from problem import CausalSelfAttention
from tutor.kit import assert_close, assert_shape, closest_match, tinylm

HERE = Path(__file__).resolve().parent
REPORT = json.loads((HERE / tinylm.REPORT_FILE).read_text())
HELDOUT = (HERE / "heldout.txt").read_text()
LAYERS = ("query", "key", "value", "proj")
LOSS_TOLERANCE = 1e-3  # nats: rounding moves the loss by about 1e-6
SCORE_TOLERANCE = 0.02


def make(
    n_embd: int = 12, n_head: int = 3, block_size: int = 8, seed: int = 0
) -> CausalSelfAttention:
    torch.manual_seed(seed)
    return CausalSelfAttention(n_embd, n_head, block_size)


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def linear64(module: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    layer = getattr(module, name)
    return F.linear(x.double(), layer.weight.double(), layer.bias.double())


def reference(
    module: nn.Module,
    x: torch.Tensor,
    n_head: int,
    *,
    causal: bool = True,
    masked_score: float = -math.inf,
    see_self: bool = True,
    mask_after_softmax: bool = False,
    scale_by: str = "head_dim",
    softmax_dim: int = -1,
    split_with_transpose: bool = True,
    merge_with_transpose: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal multi-head attention in float64; the keyword flags build the classic mistakes."""
    batch, length, channels = x.shape
    head_dim = channels // n_head

    def split(t: torch.Tensor) -> torch.Tensor:
        if split_with_transpose:
            return t.view(batch, length, n_head, head_dim).transpose(1, 2)
        return t.reshape(batch, n_head, length, head_dim)

    q, k, v = (split(linear64(module, name, x)) for name in ("query", "key", "value"))
    scale = {"head_dim": math.sqrt(head_dim), "n_embd": math.sqrt(channels), "none": 1.0}
    scores = q @ k.transpose(-2, -1) / scale[scale_by]
    hidden = torch.ones(length, length).triu(0 if not see_self else 1).bool()
    if causal and not mask_after_softmax:
        scores = scores.masked_fill(hidden, masked_score)
    weights = torch.softmax(scores, dim=softmax_dim)
    if causal and mask_after_softmax:
        weights = weights.masked_fill(hidden, 0.0)
    heads = weights @ v
    if merge_with_transpose:
        merged = heads.transpose(1, 2).reshape(batch, length, channels)
    else:
        merged = heads.reshape(batch, length, channels)
    return linear64(module, "proj", merged), weights


def known_mistakes(
    module: nn.Module, x: torch.Tensor, n_head: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(output, weights) of the classic wrong versions of forward on ``x``."""
    return {
        "there is no causal mask: every token also reads the tokens after it": reference(
            module, x, n_head, causal=False
        ),
        "the future scores are set to 0 instead of -inf, so future keys keep a weight": (
            reference(module, x, n_head, masked_score=0.0)
        ),
        "the mask hides each token from itself too (its diagonal is masked)": reference(
            module, x, n_head, see_self=False
        ),
        "the future is zeroed after the softmax, so the rows no longer sum to 1": reference(
            module, x, n_head, mask_after_softmax=True
        ),
        "the scores are not divided by sqrt(head_dim)": reference(
            module, x, n_head, scale_by="none"
        ),
        "the scores are divided by sqrt(n_embd); each head works in head_dim dimensions": (
            reference(module, x, n_head, scale_by="n_embd")
        ),
        "the softmax runs over the queries (dim=-2) instead of the keys (dim=-1)": reference(
            module, x, n_head, softmax_dim=-2
        ),
        "the heads are split with view(B, n_head, T, head_dim), which cuts across tokens; "
        "view(B, T, n_head, head_dim) then transpose(1, 2)": reference(
            module, x, n_head, split_with_transpose=False
        ),
        "the heads are merged with view(B, T, C) before moving the head axis back behind "
        "the tokens": reference(module, x, n_head, merge_with_transpose=False),
    }


def run(module: nn.Module, x: torch.Tensor, n_head: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Call forward and check what comes back before any value is compared."""
    batch, length, channels = x.shape
    try:
        result = module(x)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        pytest.fail(
            f"forward raised an error for x of shape {(batch, length, channels)} with "
            f"n_head={n_head}: {str(error).rstrip('.')}. Write the shape next to every line; "
            "for T shorter than block_size, use the T x T corner of the mask"
        )
    if not (isinstance(result, tuple) and len(result) == 2):
        pytest.fail("forward should return a pair: (output, weights)")
    out, weights = result
    assert_shape(out, (batch, length, channels), what="the output")
    assert_shape(weights, (batch, n_head, length, length), what="the attention weights")
    return out, weights


def mistake_hint(actual: torch.Tensor, candidates: dict[str, torch.Tensor]) -> str:
    found = closest_match(actual, candidates)
    return f"They match what you get when {found}." if found else ""


# --- the attention on its own -------------------------------------------------------------


def test_layers_are_the_four_linear_projections() -> None:
    module = make(n_embd=12, n_head=3)
    for name in LAYERS:
        layer = getattr(module, name, None)
        assert isinstance(layer, nn.Linear), f"self.{name} should be an nn.Linear"
        assert (layer.in_features, layer.out_features) == (12, 12), (
            f"self.{name} maps {layer.in_features} to {layer.out_features} features; each of "
            "the four layers maps n_embd to n_embd (12 to 12 here)"
        )
        assert layer.bias is not None, f"self.{name} should have a bias (the nn.Linear default)"
    names = sorted(name for name, _ in module.named_parameters())
    expected = sorted(f"{layer}.{part}" for layer in LAYERS for part in ("weight", "bias"))
    assert names == expected, (
        f"the parameters are {', '.join(names)}; the trained model has values for "
        f"{', '.join(expected)} only. Keep the mask in a buffer (register_buffer), not in a "
        "parameter"
    )


def test_output_and_weight_shapes() -> None:
    out, weights = run(make(), inputs(2, 5, 12), n_head=3)
    assert_shape(out, (2, 5, 12), what="the output for x of shape (2, 5, 12)")
    assert_shape(weights, (2, 3, 5, 5), what="the weights for 3 heads and 5 tokens")


def test_no_weight_on_the_future_and_rows_sum_to_one() -> None:
    with torch.no_grad():
        _, weights = run(make(seed=2), inputs(2, 6, 12, seed=3), n_head=3)
    if not torch.isfinite(weights).all():
        row = int(torch.nonzero(~torch.isfinite(weights))[0, 2])
        pytest.fail(
            f"row {row} of the weights is NaN: when every score of a query is -inf, the "
            "softmax has nothing to share out. Each token must see itself: the diagonal of "
            "the mask stays visible"
        )
    future = torch.ones(6, 6).triu(1).bool()
    leak = weights.double().masked_fill(~future, 0.0).abs().max()
    assert leak <= 1e-6, (
        f"a weight of {float(leak):.3f} sits on a key after its query: query i may read "
        "keys 0 to i only. Set the scores of later keys to -inf before the softmax"
    )
    sums = weights.double().sum(dim=-1)
    assert_close(
        sums,
        torch.ones_like(sums),
        what="the sum of every row of weights",
        hint="The softmax runs over the keys (dim=-1) after the mask, so each row sums to 1.",
    )


def test_future_tokens_do_not_change_past_outputs() -> None:
    module = make(seed=4)
    x = inputs(1, 6, 12, seed=5)
    changed = x.clone()
    changed[:, 4:] = inputs(1, 2, 12, seed=6)
    with torch.no_grad():
        out, _ = run(module, x, n_head=3)
        after, _ = run(module, changed, n_head=3)
    assert_close(
        after[:, :4],
        out[:, :4],
        what="the outputs of tokens 0 to 3 after changing tokens 4 and 5",
        hint="A token's output may depend only on itself and the tokens before it.",
    )


def test_weights_match_reference() -> None:
    module = make(n_embd=16, n_head=4, block_size=8, seed=7)
    x = inputs(2, 5, 16, seed=8)
    with torch.no_grad():
        _, weights = run(module, x, n_head=4)
        mistakes = known_mistakes(module, x, n_head=4)
    hint = mistake_hint(weights, {name: w for name, (_, w) in mistakes.items()})
    assert_close(weights, reference(module, x, 4)[1], what="the attention weights", hint=hint)


def test_output_matches_reference() -> None:
    module = make(n_embd=16, n_head=4, block_size=8, seed=9)
    x = inputs(2, 7, 16, seed=10)
    with torch.no_grad():
        out, _ = run(module, x, n_head=4)
        mistakes = known_mistakes(module, x, n_head=4)
    hint = mistake_hint(out, {name: o for name, (o, _) in mistakes.items()})
    assert_close(out, reference(module, x, 4)[0], what="the output", hint=hint)


# --- the attention inside the trained model -----------------------------------------------


def trained() -> tinylm.TinyLM:
    """The trained model with the learner's attention in every layer."""
    try:
        return tinylm.load(HERE, CausalSelfAttention)
    except tinylm.AttentionMismatch as error:
        pytest.fail(f"the trained model cannot take your attention: {error}")


def test_the_trained_model_takes_your_attention() -> None:
    model = trained()
    ids = model.config.encode(HELDOUT[:16]).unsqueeze(0)
    try:
        with torch.no_grad():
            model(ids)
    except tinylm.AttentionMismatch as error:
        pytest.fail(f"inside the model, {error}")


def test_heldout_loss_matches_the_reference() -> None:
    expected = float(REPORT["excerpt_loss"])
    model = trained()
    try:
        loss = tinylm.heldout_loss(model, HELDOUT)
        with torch.no_grad():
            _, layers = model(model.config.encode(HELDOUT[: model.config.block_size])[None])
    except tinylm.AttentionMismatch as error:
        pytest.fail(f"inside the model, {error}")
    if abs(loss - expected) <= LOSS_TOLERANCE:
        return
    said = (
        f"With your attention the model's loss on held-out text is {loss:.3f} nats per "
        f"character; with the reference it is {expected:.3f}."
    )
    length = layers[0].shape[-1]
    future = torch.ones(length, length).triu(1).bool()
    leak = max(float(w.double().masked_fill(~future, 0.0).abs().max()) for w in layers)
    if math.isnan(loss):
        why = (
            "Some weights are NaN: a row of scores that is -inf everywhere has nothing to "
            "share out. Each token must at least see itself."
        )
    elif leak > 1e-6:
        why = (
            f"Your weights put up to {leak:.2f} on characters that come later. The model was "
            "trained never to see them: they confuse it rather than help it."
        )
    else:
        why = (
            "The layers after your attention were trained on the reference's output; any "
            "difference in the weights or the output costs accuracy."
        )
    pytest.fail(f"{said} {why}")


def test_greedy_text_matches_the_reference() -> None:
    prompt, expected = str(REPORT["prompt"]), str(REPORT["generation"])
    try:
        written, _ = tinylm.generate(trained(), prompt, len(expected))
    except tinylm.AttentionMismatch as error:
        pytest.fail(f"inside the model, {error}")
    if written != expected:
        at = next(i for i, (a, b) in enumerate(zip(written, expected, strict=True)) if a != b)
        pytest.fail(
            f"After {prompt!r} the model writes, with your attention, {written!r}; with the "
            f"reference, {expected!r}. They part at character {at + 1}."
        )


def test_the_heads_keep_their_jobs() -> None:
    model = trained()
    try:
        found = tinylm.head_scores(model, HELDOUT)
    except tinylm.AttentionMismatch as error:
        pytest.fail(f"inside the model, {error}")
    n_head = model.config.n_head
    wrong = []
    for role, what in (
        (tinylm.PREVIOUS_TOKEN, "on the character just before"),
        (tinylm.INDUCTION, "on the character after the earlier occurrence"),
    ):
        pairs = zip(found[role], REPORT["scores"][role], strict=True)
        for head, (mine, theirs) in enumerate(pairs):
            if not abs(mine - theirs) <= SCORE_TOLERANCE:
                name = f"layer {head // n_head + 1} head {head % n_head + 1}"
                said = f"{name} puts {mine:.2f} of its weight {what}, the reference {theirs:.2f}"
                wrong.append((theirs, said))
    # The heads that do a job in the reference come first: their change says the most.
    wrong.sort(key=lambda item: -item[0])
    more = f"; {len(wrong) - 2} more heads differ" if len(wrong) > 2 else ""
    assert not wrong, "; ".join(said for _, said in wrong[:2]) + more
