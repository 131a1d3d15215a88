"""report rollups: cells per day, month and dimension; what each lead was counted as; triggers that mark changes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Written by hand. The triggers mark a lead in `report_dirty` when its stage history
changes (a move recorded, history moved to it by a merge) or one of the dimensions the
reports split by changes, so no write path can forget to. Every lead with history is
marked here, so the first refresh counts what is already stored.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import leadrelay.storage.tables

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
DIMENSIONS = ('source', 'campaign', 'persona', 'segment', 'country', 'owner', 'merged_into')

SQLITE = [
    "CREATE TRIGGER report_mark_lead AFTER UPDATE OF {cols} ON leads WHEN {changed} "
    "BEGIN INSERT INTO report_dirty (lead_id) VALUES (NEW.id); END".format(
        cols=', '.join(DIMENSIONS), changed=' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in DIMENSIONS)),
    "CREATE TRIGGER report_mark_move AFTER INSERT ON stage_changes "
    "BEGIN INSERT INTO report_dirty (lead_id) VALUES (NEW.lead_id); END",
    "CREATE TRIGGER report_mark_moved AFTER UPDATE OF lead_id ON stage_changes WHEN OLD.lead_id IS NOT NEW.lead_id "
    "BEGIN INSERT INTO report_dirty (lead_id) VALUES (NEW.lead_id); INSERT INTO report_dirty (lead_id) "
    "VALUES (OLD.lead_id); END",
]
POSTGRESQL = [
    "CREATE FUNCTION report_mark_lead() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN INSERT INTO report_dirty (lead_id) VALUES (NEW.id); RETURN NULL; END $$",
    "CREATE FUNCTION report_mark_move() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN INSERT INTO report_dirty (lead_id) VALUES (NEW.lead_id); "
    "IF TG_OP = 'UPDATE' THEN INSERT INTO report_dirty (lead_id) VALUES (OLD.lead_id); END IF; RETURN NULL; END $$",
    "CREATE TRIGGER report_mark_lead AFTER UPDATE ON leads FOR EACH ROW WHEN ({changed}) "
    "EXECUTE FUNCTION report_mark_lead()".format(
        changed=' OR '.join(f'OLD.{c} IS DISTINCT FROM NEW.{c}' for c in DIMENSIONS)),
    "CREATE TRIGGER report_mark_move AFTER INSERT ON stage_changes FOR EACH ROW EXECUTE FUNCTION report_mark_move()",
    "CREATE TRIGGER report_mark_moved AFTER UPDATE OF lead_id ON stage_changes FOR EACH ROW "
    "WHEN (OLD.lead_id IS DISTINCT FROM NEW.lead_id) EXECUTE FUNCTION report_mark_move()",
]


def upgrade() -> None:
    op.create_table(
        'report_cells',
        sa.Column('grain', sa.String(length=1), nullable=False),
        sa.Column('dimension', sa.String(length=16), nullable=False),
        sa.Column('value', sa.String(length=200), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('counts', DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint('grain', 'dimension', 'value', 'day'),
    )
    op.create_table(
        'report_leads',
        sa.Column('lead_id', ID, autoincrement=False, nullable=False),
        sa.Column('dims', DOCUMENT, nullable=False),
        sa.Column('moves', DOCUMENT, nullable=False),
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
    for statement in POSTGRESQL if op.get_bind().dialect.name == 'postgresql' else SQLITE:
        op.execute(statement)
    op.execute("INSERT INTO report_dirty (lead_id) SELECT DISTINCT lead_id FROM stage_changes")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER report_mark_lead ON leads")
        op.execute("DROP TRIGGER report_mark_move ON stage_changes")
        op.execute("DROP TRIGGER report_mark_moved ON stage_changes")
        op.execute("DROP FUNCTION report_mark_lead()")
        op.execute("DROP FUNCTION report_mark_move()")
    else:
        for name in ('report_mark_lead', 'report_mark_move', 'report_mark_moved'):
            op.execute(f"DROP TRIGGER {name}")
    for table in ('report_state', 'report_dirty', 'report_leads', 'report_cells'):
        op.drop_table(table)
