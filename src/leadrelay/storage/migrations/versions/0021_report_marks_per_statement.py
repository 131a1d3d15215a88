"""report marks per statement on PostgreSQL: one insert of the distinct leads a statement touched

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

Written by hand. Migration 0009's triggers mark a lead in `report_dirty` whenever something
the reports read of it changes. On PostgreSQL they ran once per row, each turning the whole
new row into JSON to find its lead: assigning a queue of 12,576 leads (a decision, events,
a handoff and a lead updated for each) fired some 60,000 of them, and inserted as many
marks (issue 14). They now run once per statement and insert the distinct leads of its
rows (transition tables), marking exactly the leads the row triggers marked: the
inserted or updated rows' leads; for a lead's own row only when a column the reports read
changed; for an outbox row only when `sent_at` changed; and for stage history moved to
another lead (a merge), the lead it left as well. SQLite keeps its row triggers (cheap
there, and it has no statement triggers).
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

_spec = importlib.util.spec_from_file_location("report_rollups_0009",
                                               Path(__file__).with_name("0009_report_rollups.py"))
assert _spec is not None and _spec.loader is not None
_0009 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_0009)  # its trigger lists: what these triggers replace, and what a downgrade restores
WATCHED, MARKS = _0009.WATCHED, _0009.MARKS


def _mark(name: str, select: str) -> list[str]:
    """A function inserting what `select` finds into report_dirty (as lead_id)."""
    return [f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"INSERT INTO report_dirty (lead_id) {select}; RETURN NULL; END $$"]


def _trigger(name: str, table: str, event: str, function: str) -> str:
    tables = "NEW TABLE AS new_rows" + (" OLD TABLE AS old_rows" if event == "UPDATE" else "")
    return (f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {function}()")


def _per_statement() -> list[str]:
    changed = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in WATCHED)
    out = _mark("report_mark_leads_updated", "SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id "
                f"WHERE {changed}")
    out.append(_trigger("report_mark_leads", "leads", "UPDATE", "report_mark_leads_updated"))
    for table, (column, events, only) in MARKS.items():
        for event in events:
            function = f"report_mark_{table}_{event.lower()}"
            if table == "stage_changes" and event == "UPDATE":  # history moved: the lead it left as well
                select = (f"SELECT {column} FROM new_rows WHERE {column} IS NOT NULL UNION SELECT o.{column} "
                          f"FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.{column} IS DISTINCT FROM "
                          f"n.{column} AND o.{column} IS NOT NULL")
            elif only:
                select = (f"SELECT DISTINCT n.{column} FROM new_rows n JOIN old_rows o ON o.id = n.id "
                          f"WHERE n.{column} IS NOT NULL AND o.{only} IS DISTINCT FROM n.{only}")
            else:
                select = f"SELECT DISTINCT {column} FROM new_rows WHERE {column} IS NOT NULL"
            out += _mark(function, select)
            out.append(_trigger(f"{function}_marks", table, event, function))
    return out


def _drop_per_statement() -> list[str]:
    out = ["DROP TRIGGER report_mark_leads ON leads", "DROP FUNCTION report_mark_leads_updated()"]
    for table, (_, events, _) in MARKS.items():
        for event in events:
            function = f"report_mark_{table}_{event.lower()}"
            out += [f"DROP TRIGGER {function}_marks ON {table}", f"DROP FUNCTION {function}()"]
    return out


def _drop_per_row() -> list[str]:
    out = [f"DROP TRIGGER report_mark_{table} ON {table}" for table in ("leads", *MARKS)]
    return [*out, "DROP TRIGGER report_mark_stage_changes_moved ON stage_changes", "DROP FUNCTION report_mark()",
            "DROP FUNCTION report_mark_moved()"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (*_drop_per_row(), *_per_statement()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (*_drop_per_statement(), *_0009._postgresql()):
        op.execute(statement)
