"""A pack's bare ``assert`` on tensors, said in plain words: the expression and its values.

pytest explains a failed assert by the reprs of its parts, which for tensors is noise
(``<built-in method isclose of type object at 0x..>``). Here the assert statement is found in
the test file's source, and the tensors it names are looked up in the failing frame and shown
briefly, with where two compared tensors differ most. Asserts on plain values keep pytest's
message, which reads well there. Nothing here may raise into the run: any failure means the
caller keeps its old message.
"""

from __future__ import annotations

import ast
import inspect
import math
import os
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A tensor with at most this many numbers is shown whole; a larger one by its first few.
WHOLE = 12
FIRST = 6
# Calls whose first two arguments (or receiver and argument) are compared element by element.
COMPARING = frozenset({"allclose", "isclose", "equal", "eq", "ne", "sub"})


@dataclass(frozen=True)
class Named:
    """A name or attribute chain of the expression (``out``, ``self.layer.weight``)."""

    text: str
    value: Any


def plain_message(error: BaseException, test_file: Path, own_words: str) -> str | None:
    """The failed assert in plain words, or None to keep pytest's message.

    Only for an AssertionError raised by an assert statement in ``test_file`` itself, whose
    expression names at least one tensor. ``own_words`` (the assert's own message) comes first.
    """
    try:
        return explain(error, test_file, own_words)
    except Exception:  # noqa: BLE001 - a better message is optional; the run must go on
        return None


def explain(error: BaseException, test_file: Path, own_words: str) -> str | None:
    if not isinstance(error, AssertionError):
        return None
    frame = raising_frame(error, test_file)
    if frame is None:
        return None
    statement = assert_at(test_file, frame.f_lineno)
    if statement is None:
        return None
    source, node = statement
    names = list(named_values(node.test, frame))
    if not any(is_tensor(named.value) for named in names):
        return None
    lines = [own_words] if own_words else []
    lines.append(f"{expression_text(source, node.test)} is false")
    width = max(len(named.text) for named in names)
    lines += [f"  {named.text.ljust(width)}  {describe(named.value)}" for named in names]
    by_text = {named.text: named.value for named in names}
    for left, right in compared_pairs(node.test):
        if left in by_text and right in by_text:
            note = difference(left, by_text[left], right, by_text[right])
            if note:
                lines.append(f"  {note}")
    return "\n".join(lines)


def raising_frame(error: BaseException, test_file: Path) -> types.FrameType | None:
    """The frame that raised ``error``, if it runs code of ``test_file``."""
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    if os.path.realpath(frame.f_code.co_filename) != os.path.realpath(test_file):
        return None  # raised in the kit, the learner's file, a library or a helper module
    return frame


def assert_at(test_file: Path, line: int) -> tuple[str, ast.Assert] | None:
    """The innermost assert statement of the file that spans ``line``, with the file's source."""
    source = test_file.read_text(encoding="utf-8")
    spanning = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assert) and node.lineno <= line <= (node.end_lineno or node.lineno)
    ]
    if not spanning:
        return None
    return source, min(spanning, key=lambda node: (node.end_lineno or node.lineno) - node.lineno)


def expression_text(source: str, test: ast.expr) -> str:
    """The expression as written, on one line."""
    text = ast.get_source_segment(source, test) or ast.unparse(test)
    return ast.unparse(test) if "\n" in text else text


def chain_of(node: ast.expr) -> list[str] | None:
    """``self.a.b`` as ["self", "a", "b"]; None for anything but a name and its attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def chains(test: ast.expr) -> Iterator[list[str]]:
    """The longest name-and-attribute chains of the expression, in reading order."""
    found: list[tuple[int, int, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.expr):
            parts = chain_of(node)
            if parts is not None:
                found.append((node.lineno, node.col_offset, parts))
                return  # its inner chains (``self`` of ``self.x``) are part of it
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(test)
    for _, _, parts in sorted(found, key=lambda item: (item[0], item[1])):
        yield parts


def shown(value: Any) -> bool:
    """Worth a line: a value, not a module, function, method or class."""
    return not (isinstance(value, types.ModuleType) or inspect.isclass(value) or callable(value))


def named_values(test: ast.expr, frame: types.FrameType) -> Iterator[Named]:
    """Each chain's value from the frame (locals, then globals), cut back to a shown value."""
    seen: set[str] = set()
    for parts in chains(test):
        head = parts[0]
        if head in frame.f_locals:
            value = frame.f_locals[head]
        elif head in frame.f_globals:
            value = frame.f_globals[head]
        else:
            continue
        # ``out.sum`` is a method: show ``out``. ``torch.isclose`` ends in a module: nothing.
        values = [value]
        try:
            for attr in parts[1:]:
                values.append(getattr(values[-1], attr))
        except Exception:  # noqa: BLE001 - a pack's property may raise; show what was reached
            pass
        for length in range(len(values), 0, -1):
            if shown(values[length - 1]):
                text = ".".join(parts[:length])
                if text not in seen:
                    seen.add(text)
                    yield Named(text, values[length - 1])
                break


def compared_pairs(test: ast.expr) -> Iterator[tuple[str, str]]:
    """Pairs of chains compared element by element: ``allclose(a, b)``, ``a == b``, ``a - b``."""
    for node in ast.walk(test):
        sides: list[ast.expr] = []
        if isinstance(node, ast.Compare) and len(node.comparators) == 1:
            sides = [node.left, node.comparators[0]]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
            sides = [node.left, node.right]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in COMPARING:
                # ``torch.allclose(a, b)`` compares its arguments, ``a.allclose(b)`` its receiver.
                method = len(node.args) == 1 and chain_of(node.func.value) is not None
                sides = [node.func.value, node.args[0]] if method else node.args[:2]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in COMPARING
        ):
            sides = node.args[:2]
        parts = [chain_of(side) for side in sides]
        if len(parts) == 2 and parts[0] is not None and parts[1] is not None:
            yield ".".join(parts[0]), ".".join(parts[1])


def is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def number(value: Any) -> str:
    """One element, short: true/false, an integer, or a float to 4 significant digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    return str(value)


def nested(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(nested(item) for item in values) + "]"
    return number(values)


def shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def describe(value: Any) -> str:
    """A value in one short line; a tensor as its shape and its numbers (or the first few)."""
    import torch

    if not is_tensor(value):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    tensor = value.detach().cpu()
    shape = tuple(int(size) for size in tensor.shape)
    if tensor.dim() == 0:
        return nested(tensor.item())
    count = tensor.numel()
    if count <= WHOLE:
        return f"{shape_text(shape)}  {nested(tensor.tolist())}"
    if tensor.dtype == torch.bool:
        trues = int(tensor.sum().item())
        return f"{shape_text(shape)}  {trues} of {count} true"
    first = ", ".join(number(item) for item in tensor.flatten()[:FIRST].tolist())
    return f"{shape_text(shape)}  [{first}, …] ({count} numbers)"


def difference(left: str, a: Any, right: str, b: Any) -> str:
    """Where two compared tensors differ most and both values there, or why they can't match."""
    import torch

    if not (is_tensor(a) and is_tensor(b)):
        return ""
    if a.shape != b.shape:
        shapes = f"{shape_text(tuple(a.shape))} vs {shape_text(tuple(b.shape))}"
        return f"{left} and {right} have different shapes: {shapes}"
    if a.dim() == 0 or not (a.is_floating_point() or b.is_floating_point()):
        return ""
    x, y = a.detach().cpu().double(), b.detach().cpu().double()
    gap = (x - y).abs()
    # A NaN on one side only is the largest difference of all.
    gap = torch.where(torch.isnan(x) ^ torch.isnan(y), torch.full_like(gap, math.inf), gap)
    gap = torch.nan_to_num(gap, nan=0.0)
    flat = int(gap.flatten().argmax().item())
    if gap.flatten()[flat].item() == 0:
        return ""
    index = [int(i) for i in torch.unravel_index(torch.tensor(flat), tuple(a.shape))]
    at = "[" + ", ".join(str(i) for i in index) + "]"
    first, second = precise(x[tuple(index)].item(), y[tuple(index)].item())
    return f"{left} and {right} differ most at {at}: {first} vs {second}"


def precise(first: float, second: float) -> tuple[str, str]:
    """Two numbers with just enough digits that they read differently."""
    for digits in (4, 6, 8, 12, 17):
        shown_first, shown_second = f"{first:.{digits}g}", f"{second:.{digits}g}"
        if shown_first != shown_second:
            return shown_first, shown_second
    return repr(first), repr(second)
