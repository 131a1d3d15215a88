"""report rollups: cells per day, month and dimension; what each lead was counted as; triggers that mark changes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Written by hand. The triggers mark a lead in `report_dirty` whenever something the reports
read of it changes — its row (dimensions, stage, last activity), its stage history (a move,
or history moved to it by a merge), its handoffs, domain events, touches, routing
decisions, deals, or a notice about it sent — so no write path can forget to. Every lead in
the funnel is marked here, so the first refresh counts what is already stored.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WATCHED = ('source', 'campaign', 'persona', 'segment', 'country', 'owner', 'merged_into', 'stage',
           'last_activity_at')  # what the reports read of a lead's own row
# table: (the column naming the lead, the events that change what the reports read, a condition on UPDATE)
MARKS = {
    'stage_changes': ('lead_id', ('INSERT', 'UPDATE'), None),
    'handoffs': ('lead_id', ('INSERT', 'UPDATE'), None),
    'domain_events': ('lead_id', ('INSERT',), None),
    'touches': ('lead_id', ('INSERT',), None),
    'routing_decisions': ('lead_id', ('INSERT',), None),
    'opportunities': ('lead_id', ('INSERT', 'UPDATE'), None),
    'outbox': ('lead_id', ('UPDATE',), 'sent_at'),
}


def _sqlite() -> list[str]:
    changed = ' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in WATCHED)
    out = [f"CREATE TRIGGER report_mark_leads AFTER UPDATE ON leads WHEN {changed} "
           "BEGIN INSERT INTO report_dirty (lead_id) VALUES (NEW.id); END"]
    for table, (column, events, only) in MARKS.items():
        for event in events:
            when = f"NEW.{column} IS NOT NULL" + (f" AND OLD.{only} IS NOT NEW.{only}" if only else "")
            out.append(f"CREATE TRIGGER report_mark_{table}_{event.lower()} AFTER {event} ON {table} WHEN {when} "
                       f"BEGIN INSERT INTO report_dirty (lead_id) VALUES (NEW.{column}); END")
    out.append("CREATE TRIGGER report_mark_stage_changes_moved AFTER UPDATE OF lead_id ON stage_changes "
               "WHEN OLD.lead_id IS NOT NEW.lead_id BEGIN INSERT INTO report_dirty (lead_id) VALUES (OLD.lead_id); END")
    return out


def _postgresql() -> list[str]:
    changed = ' OR '.join(f'OLD.{c} IS DISTINCT FROM NEW.{c}' for c in WATCHED)
    out = [
        # TG_ARGV[0]: the column naming the lead
        "CREATE FUNCTION report_mark() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE lead bigint; BEGIN "
        "lead := (to_jsonb(NEW) ->> TG_ARGV[0])::bigint; "
        "IF lead IS NOT NULL THEN INSERT INTO report_dirty (lead_id) VALUES (lead); END IF; RETURN NULL; END $$",
        "CREATE FUNCTION report_mark_moved() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO report_dirty (lead_id) VALUES (OLD.lead_id); RETURN NULL; END $$",
        "CREATE TRIGGER report_mark_stage_changes_moved AFTER UPDATE OF lead_id ON stage_changes FOR EACH ROW "
        "WHEN (OLD.lead_id IS DISTINCT FROM NEW.lead_id) EXECUTE FUNCTION report_mark_moved()",
        f"CREATE TRIGGER report_mark_leads AFTER UPDATE ON leads FOR EACH ROW WHEN ({changed}) "
        "EXECUTE FUNCTION report_mark('id')",
    ]
    for table, (column, events, only) in MARKS.items():
        when = f" WHEN (OLD.{only} IS DISTINCT FROM NEW.{only})" if only else ""
        out.append(f"CREATE TRIGGER report_mark_{table} AFTER {' OR '.join(events)} ON {table} FOR EACH ROW{when} "
                   f"EXECUTE FUNCTION report_mark('{column}')")
    return out


def upgrade() -> None:
    op.create_table(
        'report_cells',
        sa.Column('grain', sa.String(length=1), nullable=False),
        sa.Column('dimension', sa.String(length=16), nullable=False),
        sa.Column('value', sa.String(length=400), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('part', sa.String(length=16), nullable=False),
        sa.Column('counts', DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint('grain', 'dimension', 'value', 'day', 'part'),
    )
    op.create_table(
        'report_leads',
        sa.Column('lead_id', ID, autoincrement=False, nullable=False),
        sa.Column('facts', DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint('lead_id'),
    )
    op.create_table(
        'report_dirty',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('lead_id', ID, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'report_state',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    for statement in _postgresql() if op.get_bind().dialect.name == 'postgresql' else _sqlite():
        op.execute(statement)
    op.execute("INSERT INTO report_dirty (lead_id) "
               "SELECT id FROM leads WHERE stage IS NOT NULL AND merged_into IS NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in ('leads', *MARKS):
            op.execute(f"DROP TRIGGER report_mark_{table} ON {table}")
        op.execute("DROP TRIGGER report_mark_stage_changes_moved ON stage_changes")
        op.execute("DROP FUNCTION report_mark()")
        op.execute("DROP FUNCTION report_mark_moved()")
    else:
        names = ['report_mark_leads', 'report_mark_stage_changes_moved']
        names += [f"report_mark_{table}_{event.lower()}" for table, (_, events, _) in MARKS.items() for event in events]
        for name in names:
            op.execute(f"DROP TRIGGER {name}")
    for table in ('report_state', 'report_dirty', 'report_leads', 'report_cells'):
        op.drop_table(table)
