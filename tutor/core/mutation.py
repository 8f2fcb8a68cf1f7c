"""Attention-aware mutation operators: the mistakes learners make, applied to a reference.

``mutants(source)`` reads a reference solution with ``ast`` (it never runs it) and returns
one ``Generated`` mutant per place an operator applies: the softmax over another axis, a
transpose dropped or added, the scale dropped, squared or inverted, a mask flipped,
shifted or hiding the diagonal, ``-inf`` written as 0, a concatenation along another axis,
and heads split or merged without their transpose. ``verify`` runs each one against the
pack's tests and the comparison with the reference, to measure how strong they are.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum


class Operator(StrEnum):
    """A kind of mistake, named as a learner would make it."""

    SOFTMAX_AXIS = "softmax over another axis"
    TRANSPOSE_DROPPED = "a transpose dropped"
    TRANSPOSE_ADDED = "a transpose added"
    SCALE_DROPPED = "the scale dropped"
    SCALE_SQUARED = "the scale squared"
    SCALE_INVERTED = "the scale inverted"
    MASK_FLIPPED = "the mask flipped"
    MASK_SHIFTED = "the mask shifted by one"
    MASK_HIDES_DIAGONAL = "the mask hides the diagonal"
    NEG_INF_TO_ZERO = "-inf written as 0"
    CONCAT_AXIS = "concatenated along another axis"
    SPLIT_WITHOUT_TRANSPOSE = "heads split without a transpose"
    MERGE_WITHOUT_TRANSPOSE = "heads merged without a transpose"


@dataclass(frozen=True)
class Generated:
    """One mutant of a reference: what changed, where, and the whole new module."""

    operator: Operator
    line: int
    source: str

    @property
    def name(self) -> str:
        """A short name for reports and file names: ``softmax-axis-12``."""
        return f"{self.operator.name.lower().replace('_', '-')}-{self.line}"

    @property
    def description(self) -> str:
        return f"{self.operator.value} (line {self.line})"


# A change at one node: a new node to put in its place (``None`` to leave it).
Change = Callable[[ast.AST], ast.AST | None]


def method_name(node: ast.AST) -> str | None:
    """``softmax`` for ``torch.softmax(...)``, ``F.softmax(...)`` or ``x.softmax(...)``."""
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
        if isinstance(node.func, ast.Name):
            return node.func.id
    return None


def number(node: ast.AST | None) -> int | None:
    """The whole number a node writes (``-1``, ``2``), if it is one."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return -node.operand.value
    return None


def literal(value: int) -> ast.expr:
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if value < 0 else ast.Constant(value)


def other_axis(axis: int) -> int:
    return -2 if axis == -1 else -1


def axis_argument(call: ast.Call, position: int) -> tuple[str, int | ast.keyword] | None:
    """Where a call's ``dim`` is written: as keyword, or at ``position``."""
    for keyword in call.keywords:
        if keyword.arg in ("dim", "axis"):
            return ("keyword", keyword)
    if len(call.args) > position:
        return ("position", position)
    return None


def with_axis(call: ast.Call, position: int) -> ast.AST | None:
    """The call with its axis argument moved to another axis."""
    where = axis_argument(call, position)
    if where is None:
        return None
    new = copy.deepcopy(call)
    if where[0] == "keyword":
        keyword = next(k for k in new.keywords if k.arg in ("dim", "axis"))
        axis = number(keyword.value)
        if axis is None:
            return None
        keyword.value = literal(other_axis(axis))
    else:
        assert isinstance(where[1], int)
        axis = number(new.args[where[1]])
        if axis is None:
            return None
        new.args[where[1]] = literal(other_axis(axis))
    return new


def softmax_axis(node: ast.AST) -> ast.AST | None:
    if method_name(node) != "softmax":
        return None
    assert isinstance(node, ast.Call)
    # x.softmax(-1) puts the axis first; torch.softmax(x, -1) second.
    is_method = (
        isinstance(node.func, ast.Attribute)
        and not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("torch", "F"))
        and not isinstance(node.func.value, ast.Attribute)
    )
    return with_axis(node, 0 if is_method else 1)


def concat_axis(node: ast.AST) -> ast.AST | None:
    if method_name(node) not in ("cat", "concat", "concatenate"):
        return None
    assert isinstance(node, ast.Call)
    if not any(k.arg in ("dim", "axis") for k in node.keywords) and len(node.args) < 2:
        # torch.cat(parts) concatenates along 0: name it to change it
        new = copy.deepcopy(node)
        new.keywords.append(ast.keyword("dim", literal(-1)))
        return new
    return with_axis(node, 1)


def is_last_two_transpose(node: ast.AST) -> bool:
    """``t.transpose(-2, -1)``, ``t.transpose(-1, -2)``, ``t.mT`` or ``t.T``."""
    if isinstance(node, ast.Attribute) and node.attr in ("mT", "T"):
        return True
    if method_name(node) == "transpose" and isinstance(node.func, ast.Attribute):  # type: ignore[attr-defined]
        assert isinstance(node, ast.Call)
        axes = {number(a) for a in node.args}
        return axes in ({-2, -1}, {1, 2}) and len(node.args) == 2
    return False


def receiver(node: ast.AST) -> ast.expr:
    """What a method or attribute is taken of: ``k`` in ``k.transpose(-2, -1)``."""
    if isinstance(node, ast.Attribute):
        return node.value
    assert isinstance(node, ast.Call)
    assert isinstance(node.func, ast.Attribute)
    return node.func.value


def view_call(node: ast.AST) -> bool:
    return method_name(node) in ("view", "reshape") and isinstance(
        getattr(node, "func", None), ast.Attribute
    )


def transpose_dropped(node: ast.AST) -> ast.AST | None:
    """A transpose of the last two axes, or of axes 1 and 2 not splitting heads, left out."""
    if not is_last_two_transpose(node):
        return None
    inner = receiver(node)
    if isinstance(node, ast.Call) and view_call(inner) and number(node.args[0]) in (1, 2):
        return None  # a split of heads: SPLIT_WITHOUT_TRANSPOSE says it better
    if isinstance(node, ast.Call) and {number(a) for a in node.args} == {1, 2}:
        return None  # before a merge: MERGE_WITHOUT_TRANSPOSE covers it
    return copy.deepcopy(inner)


def transpose_added(node: ast.AST) -> ast.AST | None:
    """``a @ b`` becomes ``a @ b.transpose(-2, -1)``, unless ``b`` is transposed already."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult)):
        return None
    if is_last_two_transpose(node.right):
        return None
    new = copy.deepcopy(node)
    new.right = ast.Call(
        ast.Attribute(new.right, "transpose", ast.Load()), [literal(-2), literal(-1)], []
    )
    return new


def mentions_root(node: ast.AST) -> bool:
    """Whether an expression takes a square root: ``sqrt(d)``, ``d ** 0.5``, ``d ** -0.5``."""
    for part in ast.walk(node):
        if method_name(part) in ("sqrt", "rsqrt"):
            return True
        if (
            isinstance(part, ast.BinOp)
            and isinstance(part.op, ast.Pow)
            and isinstance(part.right, ast.Constant | ast.UnaryOp)
        ):
            exponent = part.right
            value = (
                exponent.value
                if isinstance(exponent, ast.Constant)
                else -getattr(exponent.operand, "value", 0)
            )
            if value in (0.5, -0.5):
                return True
    return False


def scaling(node: ast.AST) -> bool:
    """``scores / sqrt(d)``, or ``scores * d ** -0.5``: a division or product by a root."""
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Div | ast.Mult)
        and mentions_root(node.right)
    )


def scale_dropped(node: ast.AST) -> ast.AST | None:
    return copy.deepcopy(node.left) if scaling(node) else None  # type: ignore[attr-defined]


def scale_squared(node: ast.AST) -> ast.AST | None:
    if not scaling(node):
        return None
    new = copy.deepcopy(node)
    assert isinstance(new, ast.BinOp)
    new.right = ast.BinOp(new.right, ast.Pow(), ast.Constant(2))
    return new


def scale_inverted(node: ast.AST) -> ast.AST | None:
    if not scaling(node):
        return None
    new = copy.deepcopy(node)
    assert isinstance(new, ast.BinOp)
    new.op = ast.Mult() if isinstance(new.op, ast.Div) else ast.Div()
    return new


def mask_flipped(node: ast.AST) -> ast.AST | None:
    """``mask == 0`` and ``mask != 0`` swap; ``~mask`` loses its ``~``; a ``masked_fill``
    keeps the opposite positions."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        swap = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
        kind = swap.get(type(node.ops[0]))
        if kind is not None:
            new = copy.deepcopy(node)
            new.ops = [kind()]
            return new
        return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return copy.deepcopy(node.operand)
    if method_name(node) in ("masked_fill", "masked_fill_") and isinstance(node, ast.Call):
        if not node.args or isinstance(node.args[0], ast.UnaryOp | ast.Compare):
            return None  # the condition itself is flipped by the cases above
        flipped = copy.deepcopy(node)
        flipped.args[0] = ast.UnaryOp(ast.Invert(), flipped.args[0])
        return flipped
    return None


def diagonal(node: ast.Call) -> int:
    for keyword in node.keywords:
        if keyword.arg == "diagonal":
            return number(keyword.value) or 0
    return number(node.args[1]) or 0 if len(node.args) > 1 else 0


def with_diagonal(node: ast.Call, value: int) -> ast.Call:
    new = copy.deepcopy(node)
    new.keywords = [k for k in new.keywords if k.arg != "diagonal"]
    new.args = new.args[:1]
    new.keywords.append(ast.keyword("diagonal", literal(value)))
    return new


def mask_shifted(node: ast.AST) -> ast.AST | None:
    """``tril`` keeps one future key more; ``triu`` hides one past key more."""
    if method_name(node) == "tril" and isinstance(node, ast.Call) and node.args:
        return with_diagonal(node, diagonal(node) + 1)
    if method_name(node) == "triu" and isinstance(node, ast.Call) and node.args:
        return with_diagonal(node, diagonal(node) - 1)
    return None


def mask_hides_diagonal(node: ast.AST) -> ast.AST | None:
    """``tril`` without its diagonal; ``triu(..., 1)`` with it."""
    if method_name(node) == "tril" and isinstance(node, ast.Call) and node.args:
        return with_diagonal(node, diagonal(node) - 1)
    if (
        method_name(node) == "triu"
        and isinstance(node, ast.Call)
        and node.args
        and diagonal(node) == 1
    ):
        return with_diagonal(node, 0)
    return None


def negative_infinity(node: ast.AST) -> bool:
    """``float("-inf")``, ``-float("inf")``, ``-math.inf``, ``-torch.inf``, ``-1e9``."""
    if (
        isinstance(node, ast.Call)
        and method_name(node) == "float"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and str(node.args[0].value).strip().lower() in ("-inf", "-infinity")
    ):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = node.operand
        if isinstance(inner, ast.Attribute) and inner.attr == "inf":
            return True
        if isinstance(inner, ast.Call) and method_name(inner) == "float":
            return bool(inner.args) and str(getattr(inner.args[0], "value", "")).lower() == "inf"
        if isinstance(inner, ast.Constant) and isinstance(inner.value, float | int):
            return float(inner.value) >= 1e4
    return False


def neg_inf_to_zero(node: ast.AST) -> ast.AST | None:
    return ast.Constant(0.0) if negative_infinity(node) else None


def split_without_transpose(node: ast.AST) -> ast.AST | None:
    """``t.view(B, T, H, D).transpose(1, 2)`` becomes ``t.view(B, H, T, D)``."""
    if not (method_name(node) == "transpose" and isinstance(node, ast.Call)):
        return None
    if {number(a) for a in node.args} != {1, 2} or len(node.args) != 2:
        return None
    inner = receiver(node)
    if not (view_call(inner) and isinstance(inner, ast.Call) and len(inner.args) == 4):
        return None
    new = copy.deepcopy(inner)
    new.args = [new.args[0], new.args[2], new.args[1], new.args[3]]
    return new


def merge_without_transpose(node: ast.AST) -> ast.AST | None:
    """``t.transpose(1, 2).contiguous().view(B, T, C)`` loses its ``transpose(1, 2)``."""
    if not view_call(node):
        return None
    assert isinstance(node, ast.Call)
    assert isinstance(node.func, ast.Attribute)
    chain = node.func.value
    contiguous = method_name(chain) == "contiguous"
    transposed = receiver(chain) if contiguous else chain
    if not (method_name(transposed) == "transpose" and isinstance(transposed, ast.Call)):
        return None
    if {number(a) for a in transposed.args} != {1, 2}:
        return None
    new = copy.deepcopy(node)
    assert isinstance(new.func, ast.Attribute)
    untransposed = copy.deepcopy(receiver(transposed))
    if contiguous:
        assert isinstance(new.func.value, ast.Call)
        assert isinstance(new.func.value.func, ast.Attribute)
        new.func.value.func.value = untransposed
    else:
        new.func.value = untransposed
    return new


OPERATORS: dict[Operator, Change] = {
    Operator.SOFTMAX_AXIS: softmax_axis,
    Operator.TRANSPOSE_DROPPED: transpose_dropped,
    Operator.TRANSPOSE_ADDED: transpose_added,
    Operator.SCALE_DROPPED: scale_dropped,
    Operator.SCALE_SQUARED: scale_squared,
    Operator.SCALE_INVERTED: scale_inverted,
    Operator.MASK_FLIPPED: mask_flipped,
    Operator.MASK_SHIFTED: mask_shifted,
    Operator.MASK_HIDES_DIAGONAL: mask_hides_diagonal,
    Operator.NEG_INF_TO_ZERO: neg_inf_to_zero,
    Operator.CONCAT_AXIS: concat_axis,
    Operator.SPLIT_WITHOUT_TRANSPOSE: split_without_transpose,
    Operator.MERGE_WITHOUT_TRANSPOSE: merge_without_transpose,
}


def replaced(tree: ast.Module, target: ast.AST, new: ast.AST) -> bool:
    """Put ``new`` where ``target`` is in ``tree``; whether it was found."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, new)
                return True
            if isinstance(value, list) and any(item is target for item in value):
                value[[id(item) for item in value].index(id(target))] = new
                return True
    return False


def mutants(source: str) -> list[Generated]:
    """Every mutant the operators make of ``source``, in a fixed order: each compiles,
    differs from the source and from every other. ``[]`` when the source does not parse."""
    try:
        original = ast.parse(source)
    except SyntaxError:
        return []
    plain = ast.unparse(original)
    seen = {plain}
    found: list[Generated] = []
    for operator, change in OPERATORS.items():
        for position, node in enumerate(ast.walk(original)):
            if change(node) is None:
                continue
            tree = copy.deepcopy(original)
            target = nth_node(tree, position)
            new = change(target)
            if new is None or not replaced(tree, target, new):
                continue
            text = ast.unparse(ast.fix_missing_locations(tree))
            if text in seen or not compiles(text):
                continue
            seen.add(text)
            found.append(Generated(operator, getattr(node, "lineno", 0), text + "\n"))
    return found


def nth_node(tree: ast.AST, position: int) -> ast.AST:
    walked: Iterator[ast.AST] = ast.walk(tree)
    for _ in range(position):
        next(walked)
    return next(walked)


def compiles(text: str) -> bool:
    try:
        compile(text, "<mutant>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True
