"""handoff model: status per step, reassignment memory, quiet (backfill) handoffs, domain event log, routing counters

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Written by hand. A handoff's status now says how far it got: `open` splits into
`assigned`, `accepted` and `working`. A handoff remembers how often SLA rules reassigned
it and which reps it must not go back to, and until when its deadlines are history that
was loaded (recorded, never alerted). Domain events get an append-only log. Routing
reads per-rep counters instead of counting every assignment ever made.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadrelay.storage.tables

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = leadrelay.storage.tables.UTCDateTime
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('handoffs') as batch:
        batch.add_column(sa.Column('reassignments', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('excluded_reps', DOCUMENT, nullable=True))
        batch.add_column(sa.Column('quiet_until', WHEN(), nullable=True))
    op.execute("UPDATE handoffs SET status = CASE WHEN touches > 0 THEN 'working' "
               "WHEN accepted_at IS NOT NULL THEN 'accepted' ELSE 'assigned' END WHERE status = 'open'")

    op.create_table(
        'domain_events',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('at', WHEN(), nullable=False),
        sa.Column('recorded_at', WHEN(), nullable=False),
        sa.Column('lead_id', ID, nullable=True),
        sa.Column('handoff_id', ID, nullable=True),
        sa.Column('cause', sa.Text(), nullable=False),
        sa.Column('data', DOCUMENT, nullable=False),
        sa.Column('quiet', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('playbook_version', sa.String(length=12), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_domain_events')),
    )
    op.create_index(op.f('ix_domain_events_lead_id'), 'domain_events', ['lead_id'])
    op.create_index('ix_domain_events_type_at', 'domain_events', ['type', 'at'])

    op.create_table(
        'rep_assignment_counts',
        sa.Column('rep', sa.String(length=80), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),  # the rep's local date, or '' for all time
        sa.Column('assigned', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('rep', 'day', name=op.f('pk_rep_assignment_counts')),
    )
    # All-time totals from the decisions already made; per-day counts only matter for today,
    # and start afresh (a quota resets at the rep's midnight anyway).
    op.execute("INSERT INTO rep_assignment_counts (rep, day, assigned) "
               "SELECT owner, '', COUNT(*) FROM routing_decisions WHERE owner IS NOT NULL GROUP BY owner")


def downgrade() -> None:
    op.drop_table('rep_assignment_counts')
    op.drop_index('ix_domain_events_type_at', table_name='domain_events')
    op.drop_index(op.f('ix_domain_events_lead_id'), table_name='domain_events')
    op.drop_table('domain_events')
    op.execute("UPDATE handoffs SET status = 'open' WHERE status IN ('assigned', 'accepted', 'working')")
    with op.batch_alter_table('handoffs') as batch:
        batch.drop_column('quiet_until')
        batch.drop_column('excluded_reps')
        batch.drop_column('reassignments')
