"""A pack's bare assert on tensors is shown with its expression and values, not repr noise."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from tests.conftest import TESTS, LiveRunner
from tutor.core.protocol import Outcome
from tutor.worker.plain_assert import plain_message
from tutor.worker.plugin import failure_message, short_message

BARE = TESTS / "packs" / "bare-asserts" / "01-softmax-rows"


def failed(tmp_path: Path, body: str) -> tuple[AssertionError, Path]:
    """Run ``test()`` written as ``body`` in a test file of its own; its AssertionError."""
    path = tmp_path / "test_hand.py"
    path.write_text(
        "import torch\n\n\ndef test():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    )
    spec = importlib.util.spec_from_file_location("test_hand", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(AssertionError) as caught:
        module.test()
    return caught.value, path


def plain(tmp_path: Path, body: str) -> str | None:
    error, path = failed(tmp_path, body)
    return plain_message(error, path, "")


def test_allclose_shows_both_tensors_and_where_they_differ_most(tmp_path: Path) -> None:
    text = plain(
        tmp_path,
        """\
        out = torch.tensor([[0.10, 0.25, 0.65], [0.33, 0.33, 0.34]])
        expected = torch.tensor([[0.12, 0.25, 0.63], [0.33, 0.33, 0.34]])
        assert torch.allclose(out, expected)
        """,
    )
    assert text == (
        "torch.allclose(out, expected) is false\n"
        "  out       (2, 3)  [[0.1, 0.25, 0.65], [0.33, 0.33, 0.34]]\n"
        "  expected  (2, 3)  [[0.12, 0.25, 0.63], [0.33, 0.33, 0.34]]\n"
        "  out and expected differ most at [0, 0]: 0.1 vs 0.12"
    )


def test_isclose_all_names_the_tensors_not_the_method(tmp_path: Path) -> None:
    text = plain(
        tmp_path,
        """\
        a = torch.zeros(2, 2)
        b = torch.tensor([[0.0, 0.0], [0.0, 1e-3]])
        assert torch.isclose(a, b, atol=1e-6).all()
        """,
    )
    assert text is not None
    assert text.splitlines()[0] == "torch.isclose(a, b, atol=1e-6).all() is false"
    assert "a and b differ most at [1, 1]: 0 vs 0.001" in text
    assert "built-in" not in text
    assert "0x" not in text


def test_equality_of_tensors_all(tmp_path: Path) -> None:
    text = plain(
        tmp_path,
        """\
        a = torch.tensor([1.0, 2.0, 3.0])
        b = torch.tensor([1.0, 2.0, 3.0001])
        assert (a == b).all()
        """,
    )
    assert text is not None
    assert "  a  (3,)  [1, 2, 3]" in text
    # Rounded alike at four digits, so the difference is shown with more.
    assert "a and b differ most at [2]: 3 vs 3.0001" in text


def test_a_large_tensor_shows_its_first_numbers(tmp_path: Path) -> None:
    text = plain(
        tmp_path,
        """\
        out = torch.arange(24.0).reshape(2, 3, 4)
        assert out.sum() < 0
        """,
    )
    assert text == "out.sum() < 0 is false\n  out  (2, 3, 4)  [0, 1, 2, 3, 4, 5, …] (24 numbers)"


def test_a_multi_line_assert_is_found_and_shown_on_one_line(tmp_path: Path) -> None:
    text = plain(
        tmp_path,
        """\
        weights = torch.tensor([[0.5, 0.6]])
        assert torch.allclose(
            weights.sum(dim=-1),
            torch.ones(1),
        )
        """,
    )
    assert text is not None
    assert text.splitlines()[0] == "torch.allclose(weights.sum(dim=-1), torch.ones(1)) is false"
    assert "  weights  (1, 2)  [[0.5, 0.6]]" in text


def test_the_asserts_own_message_comes_first(tmp_path: Path) -> None:
    error, path = failed(
        tmp_path,
        """\
        flag = torch.tensor(False)
        assert flag, "the mask must be set"
        """,
    )
    text = failure_message(error, path)
    assert text == "the mask must be set\nflag is false\n  flag  false"


def test_attributes_are_looked_up_and_shapes_that_differ_are_said(tmp_path: Path) -> None:
    text = plain(
        tmp_path,
        """\
        class Holder:
            pass
        self = Holder()
        self.out = torch.zeros(2, 3)
        expected = torch.zeros(3, 2)
        assert torch.equal(self.out, expected)
        """,
    )
    assert text is not None
    assert "  self.out  (2, 3)  [[0, 0, 0], [0, 0, 0]]" in text
    assert "  self.out and expected have different shapes: (2, 3) vs (3, 2)" in text


def test_asserts_without_tensors_keep_pytests_message(tmp_path: Path) -> None:
    assert plain(tmp_path, "answer = 4\nassert answer == 5\n") is None
    # A shape is a tuple: pytest's own comparison of tuples reads well.
    assert plain(tmp_path, "out = torch.zeros(2, 4)\nassert out.shape == (2, 3)\n") is None


def test_an_assert_raised_outside_the_test_file_keeps_the_old_message(tmp_path: Path) -> None:
    error, _path = failed(tmp_path, "x = torch.zeros(1)\nassert x.sum() > 0\n")
    assert plain_message(error, tmp_path / "test_other.py", "") is None
    assert failure_message(error, tmp_path / "test_other.py") == short_message(error)


def test_a_changed_test_file_falls_back(tmp_path: Path) -> None:
    # The test file has changed under the run: no assert at that line, so no new message.
    error, path = failed(tmp_path, "x = torch.zeros(1)\nassert x.sum() > 0\n")
    path.write_text("def test():\n    pass\n")
    assert plain_message(error, path, "") is None
    path.write_text("def test(:\n")  # nor does a file that no longer parses raise
    assert plain_message(error, path, "") is None


def test_a_packs_bare_assert_reads_plainly_through_the_worker(
    live_runner: LiveRunner, tmp_path: Path
) -> None:
    wrong = tmp_path / "problem.py"
    wrong.write_text("import torch\n\n\ndef softmax_rows(x):\n    return torch.softmax(x, dim=0)\n")
    report = live_runner.run(BARE, wrong)
    [outcome] = report.outcomes
    assert outcome.outcome is Outcome.FAILED
    lines = outcome.message.splitlines()
    assert lines[0] == "torch.allclose(out, expected, atol=1e-4) is false"
    assert lines[1].startswith("  out       (2, 3)  [[")
    assert lines[2].startswith("  expected  (2, 3)  [[0.09003, 0.2447, 0.6652], [0.3333,")
    assert lines[3].startswith("  out and expected differ most at [")
    assert "<built-in method" not in outcome.message
    assert "0x" not in outcome.message
