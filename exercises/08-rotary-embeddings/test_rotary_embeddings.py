"""Tests for exercise 08: rotary position embeddings.

Every expected value is computed here in float64 straight from the formulas of the
lesson. The tests of apply_rope and rope_attention hand them cos/sin tables built here,
so each function is judged on its own.
"""

import torch
from torch.nn import functional as F

from problem import apply_rope, rope_attention, rope_frequencies
from tutor.kit import assert_close, assert_rows_sum_to_one, assert_shape, closest_match

DOUBLE = torch.float64


def inputs(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator)


def speeds(head_dim: int, base: float = 10000.0, exponent: float = 2.0) -> torch.Tensor:
    """theta_i = base^(-exponent * i / head_dim); the lesson's exponent is 2."""
    pair = torch.arange(head_dim // 2, dtype=DOUBLE)
    return base ** (-exponent * pair / head_dim)


def angles(head_dim: int, positions: torch.Tensor, theta: torch.Tensor | None = None):
    theta = speeds(head_dim) if theta is None else theta
    return positions.to(DOUBLE)[:, None] * theta[None, :]


def tables(head_dim: int, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The (cos, sin) tables the learner's functions receive, as float32."""
    angle = angles(head_dim, torch.arange(max_len))
    return angle.cos().float(), angle.sin().float()


def rotate_half(x: torch.Tensor, angle: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
    """Rotate pairs (i, i + d/2) of x by angle (T, d/2); sign=-1 turns the other way."""
    x = x.to(DOUBLE)
    half = x.shape[-1] // 2
    c, s = angle.cos(), sign * angle.sin()
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * c - b * s, a * s + b * c], dim=-1)


def rotate_adjacent(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """The other pairing convention: pairs (2i, 2i + 1)."""
    x = x.to(DOUBLE)
    c, s = angle.cos(), angle.sin()
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)


def reference_rope(x: torch.Tensor, offset: int = 0) -> torch.Tensor:
    positions = torch.arange(offset, offset + x.shape[-2])
    return rotate_half(x, angles(x.shape[-1], positions))


def rope_mistakes(x: torch.Tensor, offset: int = 0) -> dict[str, torch.Tensor]:
    head_dim, seq_len = x.shape[-1], x.shape[-2]
    angle = angles(head_dim, torch.arange(offset, offset + seq_len))
    half = head_dim // 2
    x64 = x.to(DOUBLE)
    a, b = x64[..., :half], x64[..., half:]
    return {
        "the features are paired as neighbours (2i, 2i+1); this exercise pairs i with "
        "i + head_dim/2 (rotate-half)": rotate_adjacent(x, angle),
        "the minus sign of the rotation is missing: the first half should be "
        "a*cos - b*sin": torch.cat(
            [a * angle.cos() + b * angle.sin(), a * angle.sin() + b * angle.cos()], -1
        ),
        "every pair turns the other way (the sign of sin is flipped)": rotate_half(
            x, angle, sign=-1.0
        ),
        "the offset is ignored: the tokens are rotated as if they started at position 0": (
            reference_rope(x, 0)
        ),
        "nothing is rotated: x comes back unchanged": x64,
    }


def test_frequency_tables_match_the_formula() -> None:
    cos, sin = rope_frequencies(8, 6)
    angle = angles(8, torch.arange(6))
    candidates = {
        "the exponent is -i/head_dim; it should be -2i/head_dim": angles(
            8, torch.arange(6), speeds(8, exponent=1.0)
        ),
        "every pair uses the same speed; theta_i should shrink with i": angles(
            8, torch.arange(6), torch.ones(4, dtype=DOUBLE)
        ),
        "the speeds grow with i: base^(+2i/head_dim) instead of base^(-2i/head_dim)": angles(
            8, torch.arange(6), speeds(8, exponent=-2.0)
        ),
    }
    for name, table, expected in (("cos", cos, angle.cos()), ("sin", sin, angle.sin())):
        assert_shape(table, (6, 4), what=f"the {name} table for head_dim=8, max_len=6")
        wrong = {why: getattr(torch, name)(bad) for why, bad in candidates.items()}
        mistake = closest_match(table, wrong)
        assert_close(
            table,
            expected,
            what=f"the {name} table (row = position, column = pair)",
            hint=f"It matches a table where {mistake}." if mistake else "",
        )


def test_frequency_tables_follow_the_base() -> None:
    cos, sin = rope_frequencies(6, 5, base=100.0)
    angle = torch.arange(5, dtype=DOUBLE)[:, None] * speeds(6, base=100.0)[None, :]
    hint = "Expected theta_i = base ** (-2 * i / head_dim) with the base you are given (100)."
    assert_close(cos, angle.cos(), what="the cos table for base=100", hint=hint)
    assert_close(sin, angle.sin(), what="the sin table for base=100", hint=hint)


def test_position_zero_is_unchanged() -> None:
    cos, sin = tables(8, 4)
    x = inputs(2, 3, 4, 8)
    out = apply_rope(x, cos, sin)
    assert_shape(out, (2, 3, 4, 8), what="apply_rope's output for x of shape (2, 3, 4, 8)")
    assert_close(
        out[:, :, 0],
        x[:, :, 0],
        what="the rotated token at position 0",
        hint="At position 0 every angle is 0, so the rotation leaves the vector as it is.",
    )


def test_apply_rope_matches_reference() -> None:
    cos, sin = tables(8, 10)
    x = inputs(2, 3, 7, 8, seed=2)
    out = apply_rope(x, cos, sin)
    mistake = closest_match(out, rope_mistakes(x))
    assert_close(
        out,
        reference_rope(x),
        what="apply_rope's output",
        hint=f"It matches what you get when {mistake}." if mistake else "",
    )


def test_offset_moves_tokens_to_later_positions() -> None:
    # A chunk whose first token sits at position 4 must be rotated by the angles of rows 4, 5, ...
    cos, sin = tables(6, 12)
    x = inputs(1, 2, 3, 6, seed=3)
    out = apply_rope(x, cos, sin, offset=4)
    mistake = closest_match(out, rope_mistakes(x, offset=4))
    assert_close(
        out,
        reference_rope(x, offset=4),
        what="apply_rope's output with offset=4",
        hint=f"It matches what you get when {mistake}."
        if mistake
        else "Token t of x sits at position offset + t: use rows offset .. offset+T-1.",
    )


def test_rotation_preserves_vector_length() -> None:
    cos, sin = tables(8, 16)
    x = inputs(2, 2, 16, 8, seed=4)
    out = apply_rope(x, cos, sin)
    assert_close(
        out.to(DOUBLE).norm(dim=-1),
        x.to(DOUBLE).norm(dim=-1),
        what="the length of every rotated vector",
        hint="A rotation only turns vectors: each pair (a, b) must become "
        "(a*cos - b*sin, a*sin + b*cos), which keeps a^2 + b^2.",
    )


def test_scores_depend_only_on_relative_position() -> None:
    # Shift every query and key by the same 9 positions: every dot product must stay the same.
    cos, sin = tables(8, 20)
    q, k = inputs(1, 2, 5, 8, seed=5), inputs(1, 2, 5, 8, seed=6)
    scores = {
        shift: (
            apply_rope(q, cos, sin, offset=shift).to(DOUBLE)
            @ apply_rope(k, cos, sin, offset=shift).to(DOUBLE).transpose(-2, -1)
        )
        for shift in (0, 9)
    }
    assert_close(
        scores[9],
        scores[0],
        what="the q.k scores with every position shifted by 9",
        hint="Rotate q and k with the same angles for the same position; a rotated q.k then "
        "depends only on the distance between the two positions.",
    )


def reference_attention(q, k, v, offset=0, rotate_q=True, rotate_k=True, rotate_v=False):
    q = reference_rope(q, offset) if rotate_q else q.to(DOUBLE)
    k = reference_rope(k, offset) if rotate_k else k.to(DOUBLE)
    v = reference_rope(v, offset) if rotate_v else v.to(DOUBLE)
    out = F.scaled_dot_product_attention(q, k, v)
    weights = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
    return out, weights


def test_rope_attention_matches_reference() -> None:
    cos, sin = tables(6, 8)
    q, k, v = (inputs(2, 3, 5, 6, seed=s) for s in (7, 8, 9))
    out, weights = rope_attention(q, k, v, cos, sin)
    expected_out, expected_weights = reference_attention(q, k, v)
    assert_shape(weights, (2, 3, 5, 5), what="the attention weights")
    wrong = {
        "only the queries are rotated; the keys need the same rotation": reference_attention(
            q, k, v, rotate_k=False
        ),
        "only the keys are rotated; the queries need the same rotation": reference_attention(
            q, k, v, rotate_q=False
        ),
        "the values are rotated too; RoPE acts on queries and keys only": reference_attention(
            q, k, v, rotate_v=True
        ),
        "nothing is rotated": reference_attention(q, k, v, rotate_q=False, rotate_k=False),
    }
    mistake = closest_match(out, {why: pair[0] for why, pair in wrong.items()})
    hint = (
        f"It matches what you get when {mistake}."
        if mistake
        else "Rotate q and k with apply_rope (make test_apply_rope_matches_reference pass "
        "first), then scale the scores by 1/sqrt(head_dim) and softmax over the keys."
    )
    assert_close(weights, expected_weights, what="the attention weights", hint=hint)
    assert_close(out, expected_out, what="rope_attention's output", hint=hint)


def test_rope_attention_weights_are_shift_invariant() -> None:
    cos, sin = tables(8, 32)
    q, k, v = (inputs(1, 2, 6, 8, seed=s) for s in (10, 11, 12))
    _, at_start = rope_attention(q, k, v, cos, sin, offset=0)
    _, later = rope_attention(q, k, v, cos, sin, offset=20)
    assert_rows_sum_to_one(at_start)
    assert_close(
        later,
        at_start,
        what="the attention weights of the same tokens moved 20 positions later",
        hint="If queries and keys are both rotated by their own position, only the "
        "distance between them matters. Are both q and k rotated?",
    )


def test_values_are_not_rotated() -> None:
    # Zero queries score every key alike, so each output is the plain mean of the values.
    cos, sin = tables(4, 6)
    q = torch.zeros(2, 2, 6, 4)
    k, v = inputs(2, 2, 6, 4, seed=13), inputs(2, 2, 6, 4, seed=14)
    out, _ = rope_attention(q, k, v, cos, sin)
    expected = v.to(DOUBLE).mean(dim=-2, keepdim=True).expand(2, 2, 6, 4)
    assert_close(
        out,
        expected,
        what="the output for all-zero queries",
        hint="With equal weights the output is the mean of the values as they are; "
        "position lives in the scores, so leave v unrotated.",
    )
