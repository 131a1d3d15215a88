"""Bulk inserts: thousands of rows in one statement, without SQLAlchemy's work per row.

`conn.execute(insert(table), rows)` builds a parameter dict per row and runs every
column's type conversion on every value: for a queue of 12,576 assignments that is more
time than the database takes to store the rows. `insert_rows` converts with the same
column types (so the stored values are those `insert(table)` stores), once per distinct
date and time, and hands the rows to the driver as they are: one `executemany` on SQLite,
one `COPY` on PostgreSQL (which fires the same triggers and checks the same constraints).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any]
# Fewer rows than this go to PostgreSQL as one INSERT, not a COPY: a COPY costs more round trips (one row took
# 370 µs by COPY, 230–290 µs by INSERT), and SQLAlchemy's work per row does not matter for a few.
FEW = 20


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys: column names) into `table`, in their order."""
    if not rows:
        return
    columns = tuple(rows[0])
    values = list(map(itemgetter(*columns), rows)) if len(columns) > 1 else [(row[columns[0]],) for row in rows]
    insert_tuples(conn, table, columns, values)


def insert_tuples(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert `rows` (tuples of values in `columns` order) into `table`, in their order."""
    if not rows:
        return
    columns = tuple(columns)
    processors = _processors(table, columns, conn.dialect)
    if conn.dialect.name == "postgresql" and len(rows) < FEW:
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    converted = _converted(rows, processors)
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, converted)
        return
    conn.exec_driver_sql(_sql(table, columns, conn.dialect), converted)


def _copy(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """PostgreSQL's COPY on the transaction's own connection. The driver's errors are raised as
    SQLAlchemy's (`IntegrityError` for a duplicate key, ...), as `conn.execute` raises them: callers
    that retry a batch on a collision catch the same exception either way."""
    preparer = conn.dialect.identifier_preparer
    statement = f"COPY {preparer.format_table(table)} ({', '.join(map(preparer.quote, columns))}) FROM STDIN"
    raw = conn.connection.dbapi_connection
    assert raw is not None  # an open connection has one
    dbapi = conn.dialect.loaded_dbapi
    cursor = raw.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi.Error) from exc
    finally:
        cursor.close()


def _converted(rows: list[tuple], processors: tuple[Processor | None, ...]) -> list[tuple]:
    """The rows with every value converted by its column's type. A moment most rows share (a queue
    assigned at once has one) is converted once: equal moments are one instant, so one value in UTC."""
    if not any(processors):
        return rows
    columns = list(zip(*rows, strict=True))
    for index, process in enumerate(processors):
        if process is None:
            continue
        values = columns[index]
        if isinstance(next((value for value in values if value is not None), None), datetime):
            distinct = set(values)
            if len(distinct) * 2 <= len(values):
                converted = {value: process(value) for value in distinct}
                columns[index] = tuple(map(converted.__getitem__, values))
                continue
        columns[index] = tuple(map(process, values))
    return list(zip(*columns, strict=True))


@lru_cache(maxsize=256)
def _processors(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[Processor | None, ...]:
    """Each column's bind conversion in this dialect: what `insert(table)` applies to each value.

    A column left out gets its database default only: one with a default in Python (which
    `insert(table)` would fill in) must be given, else the rows would be stored otherwise.
    """
    missing = [column.name for column in table.columns if column.name not in columns and column.default is not None]
    if missing:
        raise ValueError(f"bulk insert into {table.name} without {', '.join(missing)}: give every column with a "
                         "default in Python")
    return bind_processors(table, columns, dialect)


@lru_cache(maxsize=256)
def bind_processors(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[Processor | None, ...]:
    """Each column's bind conversion in this dialect (None: the value goes as it is), for values written through
    the driver as Core would write them."""
    return tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns)


@lru_cache(maxsize=256)
def _sql(table: Table, columns: tuple[str, ...], dialect: Dialect) -> str:
    """INSERT INTO table (columns) VALUES (?, ...): SQLite's positional parameters."""
    quote = dialect.identifier_preparer.quote
    return (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(quote(name) for name in columns)}) VALUES ({', '.join('?' * len(columns))})")
