"""Array parameters for the Core statements: a whole list travels as one bound value
(`= ANY(:ids)`, `unnest(:ids)`), so a statement's SQL, and its cached plan, is the same for any
number of items."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    Integer,
    Table,
    TableValuedAlias,
    Text,
    bindparam,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql import column


def integers(name: str) -> BindParameter[Any]:
    return bindparam(name, type_=ARRAY(Integer))


def texts(name: str) -> BindParameter[Any]:
    return bindparam(name, type_=ARRAY(Text))


def json_rows(
    table: Table, columns: Sequence[str] | None = None, *, ordered: bool = False
) -> TableValuedAlias:
    """The rows of a JSON array parameter (`:rows`), typed as the table's own columns (all of
    them unless named), known as `r`: one statement for any number of rows. `ordered` rows
    carry their place in the array as `n`."""
    names = [c.name for c in table.c] if columns is None else list(columns)
    typed = [column(name, table.c[name].type) for name in names]
    if ordered:
        typed.append(column("n", Integer))
    return (
        func.jsonb_to_recordset(bindparam("rows", type_=JSONB))
        .table_valued(*typed)
        .render_derived(name="r", with_types=True)
    )


def given_or_kept(table: FromClause, *names: str) -> dict[str, ColumnElement[Any]]:
    """The SET of a PATCH: each column takes the parameter of its name, or keeps its value
    when that is NULL (a field left out)."""
    return {
        name: func.coalesce(bindparam(name, type_=table.c[name].type), table.c[name])
        for name in names
    }
