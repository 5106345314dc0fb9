"""A small, safe expression language for edge conditions and templates.

Graph files are configuration, and the values they read (state) come from LLMs
and people, so expressions are *never* passed to ``eval``.  The text is parsed
with :func:`ast.parse` and every node is checked against a whitelist up front,
so a bad expression fails when the graph is loaded, not halfway through a run.
Evaluation then walks the checked tree with our own semantics:

* names and dotted paths (``state.answer``, ``answer``, ``state.user.name``),
  subscripts with a literal key or index (``state.items[0]``, ``state.d["k"]``);
* literals: numbers, strings, ``true/false/null`` (and ``True/False/None``),
  lists, tuples and dicts;
* comparisons ``== != < <= > >= in not in`` (chains allowed), ``and``, ``or``,
  ``not``, unary ``-``, ``+`` on numbers, strings and lists, ``-``, ``*`` and
  ``/`` on numbers, and ``a if cond else b``.

A missing key or attribute anywhere along a path is ``None`` rather than an
error, so ``state.approved == true`` works before a node has written
``approved``.  Ordering comparisons between incompatible types are ``False``.
"""

from __future__ import annotations

import ast
import functools
import inspect
from collections.abc import Mapping
from typing import Any

__all__ = ["Expression", "ExpressionError", "compile_expression"]


class ExpressionError(ValueError):
    """An expression that cannot be parsed, is not allowed, or fails to evaluate.

    ``offset`` is the 0-based character position in the expression text where
    the problem is (``None`` when unknown), so validators can point at it.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


# Bare names that are literals, YAML style and Python style (the latter parse
# as ast.Constant already).
_LITERAL_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}

# Plural descriptions for constructs we reject, for readable messages.
_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Call: "function calls",
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Set: "set literals",
    ast.Starred: "starred expressions",
    ast.Slice: "slices",
    ast.Await: "await expressions",
    ast.Yield: "yield expressions",
    ast.YieldFrom: "yield expressions",
}

_BINOP_SYMBOLS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
}
_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_ALLOWED_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_CONSTANT_TYPES = (bool, int, float, str, type(None))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


class Expression:
    """A checked, reusable expression; evaluate it against any state mapping.

    Instances are immutable and shared through the ``compile_expression``
    cache, so they are safe to use from many threads at once.
    """

    __slots__ = ("source", "names", "_tree", "_text", "_shift")

    source: str
    names: frozenset[str]

    def __init__(
        self, source: str, tree: ast.expression, text: str, shift: int, names: frozenset[str]
    ) -> None:
        self.source = source
        self.names = names
        self._tree = tree
        self._text = text  # the text that was parsed (for node offsets)
        self._shift = shift  # chars stripped from the front of ``source``

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, state: Mapping[str, Any], variables: Mapping[str, Any] | None = None) -> Any:
        """Evaluate against ``state``; names come from ``variables`` first.

        ``state`` names the state mapping itself; any other bare name is read
        from ``variables`` if present there, else from ``state``.  Raises
        :class:`ExpressionError` for type errors such as ``"a" - 1``.
        """
        return _Evaluator(self, state, variables or {}).eval(self._tree.body)

    # Offsets and source segments, for error messages.
    def _offset(self, node: ast.AST) -> int | None:
        return _node_offset(self._text, node, self._shift)

    def _segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self._text, node) or self.source.strip()


def compile_expression(text: str) -> Expression:
    """Parse and check ``text`` once; the result is cached and reusable.

    Raises :class:`ExpressionError` (with ``offset``) for syntax errors and for
    any construct outside the language, naming the offending piece of text.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, not {type(text).__name__}")
    return _compile_cached(text)


@functools.lru_cache(maxsize=2048)
def _compile_cached(source: str) -> Expression:
    stripped = source.lstrip()
    shift = len(source) - len(stripped)
    # Expressions often come from folded/literal YAML blocks: treat line
    # breaks as spaces (same length, so offsets stay right).
    text = stripped.rstrip().replace("\r", " ").replace("\n", " ")
    if not text:
        raise ExpressionError("empty expression", offset=0)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        pos = (exc.offset - 1) if exc.offset else len(text)
        raise ExpressionError(
            f"invalid expression {source.strip()!r}: {exc.msg} at position {pos + shift}",
            offset=pos + shift,
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(
            f"invalid expression {source.strip()!r}: {exc}", offset=None
        ) from None
    checker = _Checker(text, shift)
    try:
        checker.check(tree.body)
    except RecursionError:
        raise ExpressionError("expression is too deeply nested", offset=None) from None
    return Expression(source, tree, text, shift, frozenset(checker.names))


def _node_offset(text: str, node: ast.AST, shift: int) -> int | None:
    col = getattr(node, "col_offset", None)
    if col is None:
        return None
    # col_offset counts UTF-8 bytes; the text is a single line.
    return len(text.encode("utf-8")[:col].decode("utf-8", errors="ignore")) + shift


def _path_root(node: ast.AST) -> ast.Name | None:
    """The Name a path starts from, or None if ``node`` is not a path."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def _literal_index(node: ast.AST) -> int | str | None:
    """The literal key/index of a subscript (``0``, ``-1``, ``"k"``) or None."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, str):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return -node.operand.value
    return None


class _Checker:
    """Walks a parsed tree, rejecting anything outside the language and
    collecting the top-level state keys it reads (``Expression.names``)."""

    def __init__(self, text: str, shift: int) -> None:
        self.text = text
        self.shift = shift
        self.names: set[str] = set()

    def fail(self, node: ast.AST, message: str) -> ExpressionError:
        return ExpressionError(message, offset=_node_offset(self.text, node, self.shift))

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or self.text

    def check(self, node: ast.AST) -> None:
        kind = type(node)
        if kind in _FORBIDDEN:
            raise self.fail(
                node, f"{_FORBIDDEN[kind]} are not allowed in expressions: '{self.segment(node)}'"
            )
        method = getattr(self, f"check_{kind.__name__}", None)
        if method is None:
            raise self.fail(
                node, f"{kind.__name__} is not allowed in expressions: '{self.segment(node)}'"
            )
        method(node)

    def check_Constant(self, node: ast.Constant) -> None:
        if type(node.value) not in _CONSTANT_TYPES:
            raise self.fail(
                node,
                "only numbers, strings, true/false/null, lists and dicts are allowed as "
                f"literals in expressions: '{self.segment(node)}'",
            )

    def check_Name(self, node: ast.Name) -> None:
        self._check_identifier(node, node.id)
        if node.id not in _LITERAL_NAMES and node.id != "state":
            self.names.add(node.id)

    def _check_identifier(self, node: ast.AST, name: str) -> None:
        if name.startswith("__"):
            raise self.fail(
                node, f"names starting with '__' are not allowed in expressions: '{name}'"
            )

    def _check_path(self, node: ast.Attribute | ast.Subscript) -> None:
        root = _path_root(node)
        if root is None or root.id in _LITERAL_NAMES:
            what = "attribute access is" if isinstance(node, ast.Attribute) else "subscripts are"
            raise self.fail(
                node,
                f"{what} only allowed on names and paths (like state.answer) in expressions: "
                f"'{self.segment(node)}'",
            )
        # Walk the path from the outside in, checking every segment; remember
        # the first segment after the root for ``names``.
        segments: list[int | str] = []
        current: ast.AST = node
        while isinstance(current, ast.Attribute | ast.Subscript):
            if isinstance(current, ast.Attribute):
                self._check_identifier(current, current.attr)
                segments.append(current.attr)
            else:
                if isinstance(current.slice, ast.Slice):
                    raise self.fail(
                        current, f"slices are not allowed in expressions: '{self.segment(current)}'"
                    )
                key = _literal_index(current.slice)
                if key is None:
                    raise self.fail(
                        current,
                        "subscripts need a literal int or string key in expressions: "
                        f"'{self.segment(current)}'",
                    )
                if isinstance(key, str):
                    self._check_identifier(current, key)
                segments.append(key)
            current = current.value
        self._check_identifier(root, root.id)
        if root.id == "state":
            first = segments[-1]
            if isinstance(first, str):
                self.names.add(first)
        else:
            self.names.add(root.id)

    def check_Attribute(self, node: ast.Attribute) -> None:
        self._check_path(node)

    def check_Subscript(self, node: ast.Subscript) -> None:
        self._check_path(node)

    def check_List(self, node: ast.List) -> None:
        for elt in node.elts:
            self.check(elt)

    check_Tuple = check_List

    def check_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise self.fail(
                    value, f"'**' unpacking is not allowed in expressions: '{self.segment(node)}'"
                )
            self.check(key)
            self.check(value)

    def check_Compare(self, node: ast.Compare) -> None:
        for op in node.ops:
            if not isinstance(op, _ALLOWED_CMPOPS):
                raise self.fail(
                    node,
                    "'is' comparisons are not allowed in expressions (use == null): "
                    f"'{self.segment(node)}'",
                )
        self.check(node.left)
        for comparator in node.comparators:
            self.check(comparator)

    def check_BoolOp(self, node: ast.BoolOp) -> None:
        for value in node.values:
            self.check(value)

    def check_UnaryOp(self, node: ast.UnaryOp) -> None:
        if not isinstance(node.op, ast.Not | ast.USub):
            symbol = "~" if isinstance(node.op, ast.Invert) else "+"
            raise self.fail(
                node,
                f"the unary '{symbol}' operator is not allowed in expressions: '{self.segment(node)}'",
            )
        self.check(node.operand)

    def check_BinOp(self, node: ast.BinOp) -> None:
        if not isinstance(node.op, _ALLOWED_BINOPS):
            symbol = _BINOP_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise self.fail(
                node,
                f"the '{symbol}' operator is not allowed in expressions: '{self.segment(node)}'",
            )
        self.check(node.left)
        self.check(node.right)

    def check_IfExp(self, node: ast.IfExp) -> None:
        self.check(node.test)
        self.check(node.body)
        self.check(node.orelse)


def _lookup(obj: Any, key: int | str) -> Any:
    """One path step: dict key, sequence index or public attribute; else None."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        try:
            return obj.get(key)
        except TypeError:
            return None
    if isinstance(key, int):
        if isinstance(obj, list | tuple | str):
            try:
                return obj[key]
            except IndexError:
                return None
        return None
    # Objects (pydantic models, dataclasses...): public data attributes only.
    if key.startswith("_"):
        return None
    try:
        value = getattr(obj, key)
    except Exception:
        return None
    return None if inspect.isroutine(value) else value


class _Evaluator:
    """Evaluates an already-checked tree; one instance per ``evaluate`` call."""

    __slots__ = ("expr", "state", "variables")

    def __init__(
        self, expr: Expression, state: Mapping[str, Any], variables: Mapping[str, Any]
    ) -> None:
        self.expr = expr
        self.state = state
        self.variables = variables

    def fail(self, node: ast.AST, message: str) -> ExpressionError:
        return ExpressionError(
            f"{message} in expression '{self.expr._segment(node)}'", offset=self.expr._offset(node)
        )

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Attribute):
            return _lookup(self.eval(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return _lookup(self.eval(node.value), _literal_index(node.slice))  # type: ignore[arg-type]
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BoolOp):
            return self.boolop(node)
        if isinstance(node, ast.UnaryOp):
            return self.unaryop(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.IfExp):
            return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)
        if isinstance(node, ast.List):
            return [self.eval(elt) for elt in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(elt) for elt in node.elts)
        if isinstance(node, ast.Dict):
            result = {}
            for key_node, value_node in zip(node.keys, node.values, strict=True):
                key = self.eval(key_node)  # type: ignore[arg-type]
                value = self.eval(value_node)
                try:
                    result[key] = value
                except TypeError:
                    raise self.fail(key_node, f"unhashable dict key {type(key).__name__}") from None  # type: ignore[arg-type]
            return result
        raise self.fail(node, f"unsupported {type(node).__name__}")  # checked away already

    def name(self, name: str) -> Any:
        if name == "state":
            return self.state
        if name in _LITERAL_NAMES:
            return _LITERAL_NAMES[name]
        if name in self.variables:
            return self.variables[name]
        try:
            return self.state.get(name)
        except AttributeError:
            return None

    def compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator)
            if not _compare(op, left, right):
                return False
            left = right
        return True

    def boolop(self, node: ast.BoolOp) -> Any:
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for value_node in node.values:
            value = self.eval(value_node)
            if is_and and not value:
                return value
            if not is_and and value:
                return value
        return value

    def unaryop(self, node: ast.UnaryOp) -> Any:
        operand = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if not _is_number(operand):
            raise self.fail(node, f"cannot negate {type(operand).__name__}")
        return -operand

    def binop(self, node: ast.BinOp) -> Any:
        left = self.eval(node.left)
        right = self.eval(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            if _is_number(left) and _is_number(right):
                return left + right
            if isinstance(left, str) and isinstance(right, str):
                return left + right
            if isinstance(left, list | tuple):
                # list + list concatenates; list + item appends (yamlgraph compat).
                return [*left, *right] if isinstance(right, list | tuple) else [*left, right]
            raise self.fail(node, f"cannot add {type(left).__name__} and {type(right).__name__}")
        symbol = _BINOP_SYMBOLS[type(op)]
        if not (_is_number(left) and _is_number(right)):
            raise self.fail(
                node,
                f"'{symbol}' needs numbers, got {type(left).__name__} and {type(right).__name__}",
            )
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        try:
            return left / right
        except ZeroDivisionError:
            raise self.fail(node, "division by zero") from None


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    """Compare like Python, but incompatible types give False, never raise."""
    try:
        if isinstance(op, ast.Eq):
            return bool(left == right)
        if isinstance(op, ast.NotEq):
            return bool(left != right)
        if isinstance(op, ast.In):
            return right is not None and left in right
        if isinstance(op, ast.NotIn):
            # A missing container (None) is treated as empty.
            return right is None or left not in right
        if isinstance(op, ast.Lt):
            return bool(left < right)
        if isinstance(op, ast.LtE):
            return bool(left <= right)
        if isinstance(op, ast.Gt):
            return bool(left > right)
        if isinstance(op, ast.GtE):
            return bool(left >= right)
    except TypeError:
        return False
    return False
