"""The mutation operators: each makes the mistake it names, and only where it can."""

from __future__ import annotations

import pytest

from tests.conftest import TESTS
from tutor.core.catalog import builtin_pack, load
from tutor.core.mutation import Operator, mutants
from tutor.core.protocol import Verdict
from tutor.verify import Caught, caught

ATTENTION = """
import math
import torch


def attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(mask == 0, float("-inf"))
    keep = torch.tril(torch.ones(3, 3))
    return torch.softmax(scores, dim=-1) @ v, keep
"""

HEADS = """
def split(t, B, T, H, D):
    return t.view(B, T, H, D).transpose(1, 2)


def merge(t, B, T, C):
    return t.transpose(1, 2).contiguous().view(B, T, C)


def join(parts):
    return torch.cat(parts, dim=-1)
"""


def made(source: str, operator: Operator) -> list[str]:
    return [m.source for m in mutants(source) if m.operator is operator]


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        (Operator.SOFTMAX_AXIS, "torch.softmax(scores, dim=-2)"),
        (Operator.TRANSPOSE_DROPPED, "scores = q @ k / math.sqrt"),
        (Operator.TRANSPOSE_ADDED, "@ v.transpose(-2, -1)"),
        (Operator.SCALE_DROPPED, "scores = q @ k.transpose(-2, -1)\n"),
        (Operator.SCALE_SQUARED, "/ math.sqrt(q.shape[-1]) ** 2"),
        (Operator.SCALE_INVERTED, "* math.sqrt(q.shape[-1])"),
        (Operator.MASK_FLIPPED, "mask != 0"),
        (Operator.MASK_SHIFTED, "torch.tril(torch.ones(3, 3), diagonal=1)"),
        (Operator.MASK_HIDES_DIAGONAL, "torch.tril(torch.ones(3, 3), diagonal=-1)"),
        (Operator.NEG_INF_TO_ZERO, "masked_fill(mask == 0, 0.0)"),
    ],
)
def test_each_operator_makes_its_mistake(operator: Operator, expected: str) -> None:
    sources = made(ATTENTION, operator)
    assert any(expected in source for source in sources), sources


def test_heads_lose_their_transposes_and_concatenation_its_axis() -> None:
    (split,) = made(HEADS, Operator.SPLIT_WITHOUT_TRANSPOSE)
    assert "return t.view(B, H, T, D)\n" in split
    (merge,) = made(HEADS, Operator.MERGE_WITHOUT_TRANSPOSE)
    assert "return t.contiguous().view(B, T, C)" in merge
    (join,) = made(HEADS, Operator.CONCAT_AXIS)
    assert "torch.cat(parts, dim=-2)" in join


def test_every_mutant_compiles_differs_and_is_made_once() -> None:
    found = mutants(ATTENTION)
    sources = [m.source for m in found]
    assert len(set(sources)) == len(sources)
    for source in sources:
        compile(source, "<mutant>", "exec")
    assert all(m.line > 0 for m in found)
    assert mutants(ATTENTION) == found  # the same order every time


def test_nothing_to_mutate_and_no_python_make_no_mutants() -> None:
    assert mutants("def add(a, b):\n    return a + b\n") == []
    assert mutants("def broken(:\n") == []


def test_every_builtin_solution_gets_mutants() -> None:
    for exercise in load(builtin_pack()).exercises:
        assert exercise.solution is not None
        assert mutants(exercise.solution.read_text()), exercise.key


def test_a_mutants_fate_follows_its_verdict() -> None:
    assert caught(Verdict.PASSED) is Caught.SURVIVED
    assert caught(Verdict.DIFFERS) is Caught.BY_COMPARISON
    assert caught(Verdict.FAILED) is Caught.BY_TESTS
    assert caught(Verdict.TIMED_OUT) is Caught.BY_TESTS


@pytest.mark.slow
def test_verify_prints_the_score_of_a_pack_whose_tests_check_only_shapes() -> None:
    from tests.test_cli import attn

    result = attn("verify", "--exercises", str(TESTS / "packs" / "shapes-only"))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    strength = lines[
        lines.index("test strength: mutants made from each reference by the operators") :
    ]
    row = next(line for line in strength if line.startswith("01 attention"))
    made_count, by_tests, by_comparison, survived = (int(n) for n in row.split()[-4:])
    assert made_count >= 4
    assert by_comparison >= 1  # the shapes-only tests miss what the comparison sees
    assert made_count == by_tests + by_comparison + survived
    assert any(line.startswith("score: ") for line in lines)
    assert "01 has no mutants of its own" in result.stdout
