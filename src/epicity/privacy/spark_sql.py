"""DuckDB SQL to Spark SQL, for the Spark location reader: sqlglot, plus the fixes it needs.

Tracing writes its queries once, in DuckDB's dialect. `SparkLocationReader` runs them on Spark
after three steps here, all on sqlglot's syntax tree (never by pasting strings):

1. `parse_duckdb`: parse, with the two tokenizer fixes below; every ``?`` becomes the numbered
   parameter DuckDB gives it.
2. `bind_parameters`: the parameters become typed literals (a date stays a DATE, a string is
   escaped by the generator of each dialect).
3. `to_spark`: table names become the reader's Spark views, joins with the caller's small
   inputs get a BROADCAST hint, DuckDB-only semantics are rewritten, and Spark SQL is
   generated with every identifier quoted.

Where sqlglot 30's DuckDB-to-Spark translation is wrong for what tracing runs (each fix has a
test in tests/spark/test_trace_spark.py):

- ``?::TIMESTAMPTZ`` does not parse: the tokenizer reads ``?::`` as one operator (a
  Snowflake-style try-cast); split back into a parameter and ``::``.
- ``epoch(ts)`` becomes ``UNIX_TIMESTAMP(ts)``, whole seconds rounded down; DuckDB's is a
  DOUBLE with the fraction. Written as ``UNIX_MICROS(ts) / 1e6``.
- ``CAST(x AS BIGINT)`` rounds a DOUBLE half to even in DuckDB (0.5 -> 0, 1.5 -> 2) and a
  DECIMAL half away from zero, where Spark truncates: a cast of an expression known to be
  fractional (``epoch``, ``/``, ``^``, a decimal literal, ...) is wrapped in ``BROUND`` or
  ``ROUND``. A cast of a plain DOUBLE column is not recognised: write ``round()`` there.

Checked and right as sqlglot writes them: ``"end"`` (quoted), ``ANTI JOIN``, ``arg_min`` (as
``MIN_BY``), ``^`` (as ``POWER``, not Spark's XOR), ``//`` (``DIV``), ``/`` (a DOUBLE in both),
a correlated ``EXISTS`` in a select list, and ``ORDER BY`` (DuckDB puts NULLs last, Spark
first on ascending keys: sqlglot writes ``NULLS LAST``). Known wrong and not used by epicity:
``epoch_ms(ts)`` (becomes ``TIMESTAMP_MILLIS``), ``HUGEINT`` (``INT128``), the column name of
``range(n)`` (DuckDB ``range``, Spark ``id``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import duckdb
import sqlglot
from sqlglot import Token, TokenType, exp

__all__ = ["bind_parameters", "parse_duckdb", "to_spark"]

Params = Sequence[Any] | Mapping[str, Any] | None

_DUCKDB = sqlglot.Dialect.get_or_raise("duckdb")
_INTEGER_TYPES = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.UTINYINT,
    exp.DataType.Type.USMALLINT,
    exp.DataType.Type.UINT,
    exp.DataType.Type.UBIGINT,
}
# Expressions whose value is a DOUBLE in DuckDB (a cast of one to an integer rounds).
_DOUBLE_VALUED = (
    exp.TimeToUnix,
    exp.Div,
    exp.Pow,
    exp.Sqrt,
    exp.Ln,
    exp.Log,
    exp.Exp,
    exp.Avg,
    exp.Stddev,
    exp.Variance,
)


def parse_duckdb(sql: str) -> exp.Expression:
    """The syntax tree of one DuckDB statement, with each ``?`` numbered as DuckDB numbers it
    (one more than the highest number so far), so parameters bind by number."""
    tokens: list[Token] = []
    highest = 0
    raw = _DUCKDB.tokenize(sql)
    for n, token in enumerate(raw):
        if token.token_type == TokenType.QDCOLON:
            # `?::type` is a parameter and a cast, not one operator.
            question = Token(TokenType.PLACEHOLDER, "?", token.line, token.col, token.start)
            cast = Token(TokenType.DCOLON, "::", token.line, token.col, token.start + 1, token.end)
            pieces = [question, cast]
        else:
            pieces = [token]
        for piece in pieces:
            if piece.token_type == TokenType.PLACEHOLDER and piece.text == "?":
                highest += 1
                tokens += [
                    Token(TokenType.PARAMETER, "$", piece.line, piece.col, piece.start),
                    Token(TokenType.NUMBER, str(highest), piece.line, piece.col, piece.start),
                ]
                continue
            if (
                piece.token_type == TokenType.PARAMETER
                and n + 1 < len(raw)
                and raw[n + 1].token_type == TokenType.NUMBER
                and raw[n + 1].text.isdigit()
            ):
                highest = max(highest, int(raw[n + 1].text))
            tokens.append(piece)
    statements = _DUCKDB.parser().parse(tokens, sql)
    if len(statements) != 1 or not isinstance(statements[0], exp.Expression):
        raise ValueError(f"one statement expected, got {len(statements)}")
    return statements[0]


def bind_parameters(tree: exp.Expression, params: Params) -> exp.Expression:
    """A copy of `tree` with each parameter (``$1``, ``$name``) replaced by its value as a
    literal. The counts must match as DuckDB requires (`duckdb.InvalidInputException`)."""
    tree = tree.copy()
    slots = list(tree.find_all(exp.Placeholder))
    names = {str(p.name) for p in slots}
    if isinstance(params, Mapping):
        values = {str(k): v for k, v in params.items()}
        if any(n.isdigit() for n in names):
            raise duckdb.InvalidInputException("mixing named and positional parameters")
    else:
        if any(not n.isdigit() for n in names):
            raise duckdb.InvalidInputException("named parameters need a dict of values")
        values = {str(i): v for i, v in enumerate(params or (), 1)}
    missing = sorted(names - set(values))
    if missing:
        raise duckdb.InvalidInputException(
            f"values were not provided for the parameters: {', '.join(missing)}"
        )
    excess = sorted(set(values) - names)
    if excess:
        raise duckdb.InvalidInputException(
            f"parameter count mismatch, excess parameters: {', '.join(excess)}"
        )
    for slot in slots:
        slot.replace(_literal(values[str(slot.name)]))
    return tree


def _literal(value: Any) -> exp.Expression:
    """A value as a typed SQL literal, the same type in DuckDB and Spark."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(str(value))
    if isinstance(value, float):
        if math.isfinite(value):
            text = repr(value)
            # An exponent makes it a DOUBLE in both dialects (1.5 alone is a DECIMAL).
            return exp.Literal.number(text if "e" in text else f"{text}e0")
        special = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        return exp.cast(exp.Literal.string(special), exp.DataType.Type.DOUBLE)
    if isinstance(value, decimal.Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        kind = exp.DataType.Type.TIMESTAMPTZ if value.tzinfo else exp.DataType.Type.TIMESTAMP
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), kind)
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    if isinstance(value, (bytes, bytearray)):
        return exp.Unhex(this=exp.Literal.string(bytes(value).hex()))
    raise TypeError(f"cannot bind a parameter of type {type(value).__name__}")


def to_spark(tree: exp.Expression, views: Mapping[str, str], small: Collection[str] = ()) -> str:
    """Spark SQL for a bound DuckDB statement.

    `views` maps each table the query may name (lower case) to the Spark view that holds it;
    naming any other table raises `KeyError`. Joins with the tables in `small` (the caller's
    inputs: keys, ids) broadcast them, so a crowded place is never a skewed shuffle.
    """
    tree = tree.copy()
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function
        name = table.name.lower()
        if name in ctes and not table.db:
            continue
        if table.catalog or table.db not in ("", "main") or name not in views:
            raise KeyError(f"no table {table.sql('duckdb')} in the store or the inputs")
        alias = table.alias_or_name
        table.set("this", exp.to_identifier(views[name]))
        table.set("db", None)
        # Columns qualified by the table's own name keep resolving.
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    for column in tree.find_all(exp.Column):
        if column.args.get("db") is not None:  # main.gps.person_id: the table is enough
            column.set("db", None)
            column.set("catalog", None)
    _broadcast(tree, {views[s.lower()].lower() for s in small})
    _sort_in_one_task(tree)
    # Casts first: they must still see epoch() to know its value is fractional.
    tree = tree.transform(_rounding_casts).transform(_epoch_seconds)
    return tree.sql(dialect="spark", identify=True)


def _broadcast(tree: exp.Expression, small: set[str]) -> None:
    """Add ``/*+ BROADCAST(...) */`` to each SELECT that joins a small input (or a subquery
    reading only small inputs); `small` are their view names."""

    def only_small(node: exp.Expression) -> bool:
        names = [t.name.lower() for t in node.find_all(exp.Table)]
        return bool(names) and all(n in small for n in names)

    for select in list(tree.find_all(exp.Select)):
        joins = select.args.get("joins") or []
        if not joins:
            continue
        sources = [select.args["from_"].this] if select.args.get("from_") else []
        sources += [j.this for j in joins]
        hinted = [
            s.alias_or_name
            for s in sources
            if isinstance(s, (exp.Table, exp.Subquery)) and only_small(s)
        ]
        if hinted:
            hint = exp.JoinHint(
                this="BROADCAST",
                expressions=[exp.Table(this=exp.to_identifier(h)) for h in hinted],
            )
            _add_hint(select, hint)


def _sort_in_one_task(tree: exp.Expression) -> None:
    """A sorted result (a case's own records, reference tables) is gathered into one task and
    sorted there: Spark's global sort would first sample the data in a job of its own and
    read it twice. (With a LIMIT, Spark already takes the top rows without that.)"""
    if isinstance(tree, exp.Select) and tree.args.get("order") and not tree.args.get("limit"):
        _add_hint(tree, exp.Anonymous(this="REPARTITION", expressions=[exp.Literal.number(1)]))


def _add_hint(select: exp.Expression, hint: exp.Expression) -> None:
    present = select.args.get("hint")
    select.set("hint", exp.Hint(expressions=[*(present.expressions if present else []), hint]))


def _rounding_casts(node: exp.Expression) -> exp.Expression:
    """A cast of a fractional value to an integer rounds as DuckDB does."""
    if not (isinstance(node, exp.Cast) and node.to.this in _INTEGER_TYPES):
        return node
    inner = node.this
    while isinstance(inner, exp.Paren):
        inner = inner.this
    if _is_decimal_literal(inner):  # half away from zero, as ROUND
        rounded: exp.Expression = exp.Round(this=node.this, decimals=exp.Literal.number(0))
    elif isinstance(inner, _DOUBLE_VALUED) or _is_double_literal(inner):  # half to even
        rounded = exp.Anonymous(this="BROUND", expressions=[node.this, exp.Literal.number(0)])
    else:
        return node
    return exp.Cast(this=rounded, to=node.to)


def _epoch_seconds(node: exp.Expression) -> exp.Expression:
    """DuckDB's epoch() keeps the fraction of a second."""
    if not isinstance(node, exp.TimeToUnix):
        return node
    micros = exp.Anonymous(
        this="UNIX_MICROS", expressions=[exp.cast(node.this, exp.DataType.Type.TIMESTAMPTZ)]
    )
    return exp.Paren(this=exp.Div(this=micros, expression=exp.Literal.number("1e6")))


def _is_decimal_literal(node: exp.Expression) -> bool:
    text = node.this if isinstance(node, exp.Literal) and not node.is_string else ""
    return "." in str(text) and "e" not in str(text).lower()


def _is_double_literal(node: exp.Expression) -> bool:
    text = node.this if isinstance(node, exp.Literal) and not node.is_string else ""
    return "e" in str(text).lower()
