"""A tiny, safe language for named slices: ``age >= 60 and region in ["north", "east"]``.

Grammar (keywords are case-insensitive)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := column OP literal | literal OP column
                | column ["not"] "in" "[" literal ("," literal)* "]"
    OP         := == | != | < | <= | > | >=
    column     := identifier | `any name in backticks`   (`hours-per-week` > 40)
    literal    := number | inf | "string" | 'string' | true | false | null

Nothing is evaluated as Python: the text becomes a small tree that is applied to a
DataFrame with vectorised comparisons. A comparison with a missing value is false, so
``not age < 30`` includes rows whose age is missing; ``== null`` and ``!= null`` test for
missing values explicitly.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))
      | (?P<str>"[^"]*"|'[^']*')
      | (?P<op>==|!=|<=|>=|<|>|=)
      | (?P<punct>[()\[\],])
      | (?P<quoted>`[^`]+`)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null", "inf"})
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
MISSING = object()  # the ``null`` literal


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind, text (or value) and position in the source."""

    kind: str  # num, str, op, punct, column, kw, end
    value: Any
    pos: int


@dataclass(frozen=True)
class Compare:
    """``column OP literal``."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class Member:
    """``column in [...]`` (``negate`` for ``not in``)."""

    column: str
    values: tuple[Any, ...]
    negate: bool


@dataclass(frozen=True)
class Not:
    """``not expr``."""

    operand: Node


@dataclass(frozen=True)
class BoolOp:
    """``a and b and ...`` or ``a or b or ...``."""

    op: str
    operands: tuple[Node, ...]


Node = Compare | Member | Not | BoolOp


class PredicateError(ValueError):
    """The text is not a valid predicate; the message says where and why."""


# An unquoted name with a '-' inside (``hours-per-week``): the tokenizer reads it as
# ``hours`` then a stray '-', so the error says where the backticks go. Strings and
# backticked names are skipped first; ``\b`` keeps ``1e-5`` out.
_SKIP = re.compile(r"`[^`]*`|\"[^\"]*\"|'[^']*'")
_HYPHENATED = re.compile(r"\b[A-Za-z_][A-Za-z0-9_.]*(?:-[A-Za-z0-9_.]+)+")


def quoting_hint(text: str) -> str | None:
    """The predicate with hyphenated column names put in backticks, or None if it has none."""
    out, pos, changed = [], 0, False
    for skip in [*_SKIP.finditer(text), None]:
        end = skip.start() if skip else len(text)
        chunk = _HYPHENATED.sub(lambda m: f"`{m.group(0)}`", text[pos:end])
        changed = changed or chunk != text[pos:end]
        out.append(chunk + (skip.group(0) if skip else ""))
        pos = skip.end() if skip else end
    return "".join(out) if changed else None


def tokenize(text: str) -> list[Token]:
    """Split predicate text into tokens; raise PredicateError on anything unknown."""
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise PredicateError(f"unexpected character {text[pos:].strip()[:1]!r} at {pos}")
        kind = match.lastgroup or ""
        raw = match.group(kind)
        start = match.start(kind)
        pos = match.end()
        if kind == "num":
            value: Any = float(raw)
            if value.is_integer() and re.fullmatch(r"[-+]?\d+", raw):
                value = int(raw)
            tokens.append(Token("num", value, start))
        elif kind == "str":
            tokens.append(Token("str", raw[1:-1], start))
        elif kind == "op":
            tokens.append(Token("op", "==" if raw == "=" else raw, start))
        elif kind == "punct":
            tokens.append(Token("punct", raw, start))
        elif kind == "quoted":
            tokens.append(Token("column", raw[1:-1], start))
        elif raw.lower() in KEYWORDS:
            tokens.append(Token("kw", raw.lower(), start))
        else:
            tokens.append(Token("column", raw, start))
    tokens.append(Token("end", None, len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: Any, what: str) -> None:
        if not self.accept(kind, value):
            self.fail(f"expected {what}")

    def fail(self, message: str) -> None:
        tok = self.peek()
        found = "end of text" if tok.kind == "end" else repr(tok.value)
        raise PredicateError(f"{message} at position {tok.pos}, found {found}")

    def parse(self) -> Node:
        node = self.expr()
        if self.peek().kind != "end":
            self.fail("expected 'and', 'or' or the end")
        return node

    def expr(self) -> Node:
        parts = [self.term()]
        while self.accept("kw", "or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def term(self) -> Node:
        parts = [self.factor()]
        while self.accept("kw", "and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def factor(self) -> Node:
        if self.accept("kw", "not"):
            return Not(self.factor())
        if self.accept("punct", "("):
            node = self.expr()
            self.expect("punct", ")", "')'")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        tok = self.peek()
        if tok.kind == "column":
            self.next()
            negate = False
            if self.peek().kind == "kw" and self.peek().value == "not":
                self.next()
                negate = True
                if not (self.peek().kind == "kw" and self.peek().value == "in"):
                    self.fail("expected 'in' after 'not'")
            if self.accept("kw", "in"):
                return Member(tok.value, self.literal_list(), negate)
            op = self.peek()
            if op.kind == "column":
                words = [tok.value]
                j = self.i
                while self.tokens[j].kind == "column":
                    words.append(self.tokens[j].value)
                    j += 1
                spaced = " ".join(words)
                self.fail(
                    f"expected a comparison operator after column {tok.value!r}"
                    f" (a name with spaces goes in backticks: `{spaced}`)"
                )
            if op.kind != "op":
                self.fail(f"expected a comparison operator after column {tok.value!r}")
            self.next()
            return Compare(tok.value, op.value, self.literal())
        if tok.kind in ("num", "str") or (
            tok.kind == "kw" and tok.value in ("true", "false", "null", "inf")
        ):
            value = self.literal()
            op = self.peek()
            if op.kind != "op":
                self.fail("expected a comparison operator after a literal")
            self.next()
            col = self.peek()
            if col.kind != "column":
                self.fail("expected a column name")
            self.next()
            return Compare(col.value, FLIP[op.value], value)
        self.fail("expected a comparison such as age >= 60")
        raise AssertionError("unreachable")

    def literal(self) -> Any:
        tok = self.peek()
        if tok.kind in ("num", "str"):
            self.next()
            return tok.value
        if tok.kind == "kw" and tok.value in ("true", "false", "null", "inf"):
            self.next()
            return {"true": True, "false": False, "null": MISSING, "inf": math.inf}[tok.value]
        self.fail("expected a number, a quoted string, true, false or null")
        raise AssertionError("unreachable")

    def literal_list(self) -> tuple[Any, ...]:
        self.expect("punct", "[", "'[' after 'in'")
        values = [self.literal()]
        while self.accept("punct", ","):
            values.append(self.literal())
        self.expect("punct", "]", "']' to close the list")
        return tuple(values)


def parse(text: str) -> Node:
    """Parse predicate text into a tree; raise PredicateError with the position on error.

    When the text holds an unquoted name such as ``hours-per-week``, the message ends
    with the quoted form to write instead.
    """
    if not text.strip():
        raise PredicateError("the predicate is empty")
    try:
        return _Parser(text).parse()
    except PredicateError as exc:
        hint = quoting_hint(text)
        if hint is None:
            raise
        raise PredicateError(
            f"{exc}; a column name with '-' or spaces goes in backticks: {hint}"
        ) from None


def columns(node: Node) -> set[str]:
    """Every column a predicate reads."""
    if isinstance(node, Compare | Member):
        return {node.column}
    if isinstance(node, Not):
        return columns(node.operand)
    return set().union(*(columns(n) for n in node.operands))


def evaluate(node: Node, df: Any) -> np.ndarray:
    """The boolean row mask of ``node`` on ``df`` (PredicateError on a type mismatch)."""
    if isinstance(node, BoolOp):
        masks = [evaluate(n, df) for n in node.operands]
        reducer = np.logical_and if node.op == "and" else np.logical_or
        return np.asarray(reducer.reduce(masks))
    if isinstance(node, Not):
        return ~evaluate(node.operand, df)
    if node.column not in df.columns:
        raise PredicateError(f"unknown column {node.column!r}")
    series = df[node.column]
    present = series.notna().to_numpy()
    if isinstance(node, Member):
        masks = [_compare(series, present, "==", v, node.column) for v in node.values]
        hit = np.logical_or.reduce(masks)
        return np.asarray((~hit & present) if node.negate else hit)
    return _compare(series, present, node.op, node.value, node.column)


def _compare(series: Any, present: np.ndarray, op: str, value: Any, column: str) -> np.ndarray:
    import pandas as pd

    if value is MISSING:
        if op not in ("==", "!="):
            raise PredicateError(f"null can only be compared with == or != (column {column!r})")
        return ~present if op == "==" else present.copy()
    is_bool_col = pd.api.types.is_bool_dtype(series.dtype)
    is_num_col = pd.api.types.is_numeric_dtype(series.dtype) and not is_bool_col
    if isinstance(value, bool):
        if not is_bool_col:
            raise PredicateError(f"column {column!r} is not boolean, compared with {value}")
        arr = series.to_numpy(dtype=object)
    elif isinstance(value, int | float):
        if not (is_num_col or is_bool_col):
            raise PredicateError(
                f"column {column!r} is not numeric, compared with the number {value}"
            )
        arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
        value = float(value)
    else:
        if is_num_col or is_bool_col:
            raise PredicateError(
                f"column {column!r} is numeric, compared with the string {value!r}"
                " (remove the quotes)"
            )
        if op not in ("==", "!="):
            raise PredicateError(f"strings can only be compared with == or != (column {column!r})")
        arr = series.astype(object).to_numpy()
    with np.errstate(invalid="ignore"):
        result = np.asarray(OPS[op](arr, value), dtype=bool)
    return result & present
