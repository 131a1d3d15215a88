"""meetings: booked, rescheduled, held, no-show, canceled; the follow-up task a no-show opens

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Written by hand. Touches logged with the outcome `meeting_booked` before meetings existed
become booked meetings (without a time), so the SQL gate still sees them.
"""
import sqlalchemy as sa
from alembic import op

import leadrelay.storage.tables

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = leadrelay.storage.tables.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'meetings',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('lead_id', ID, nullable=False),
        sa.Column('handoff_id', ID, nullable=True),
        sa.Column('host', sa.String(length=80), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('starts_at', WHEN(), nullable=True),
        sa.Column('booked_at', WHEN(), nullable=False),
        sa.Column('ended_at', WHEN(), nullable=True),
        sa.Column('reschedules', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('external_id', sa.String(length=200), nullable=True),
        sa.Column('credited_to', sa.String(length=80), nullable=True),
        sa.Column('credit', sa.Integer(), nullable=False),
        sa.Column('updated_by', sa.String(length=120), nullable=False),
        sa.Column('updated_at', WHEN(), nullable=False),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_meetings_lead_id_leads')),
        sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_meetings_handoff_id_handoffs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_meetings')),
    )
    op.create_index('ix_meetings_lead_id', 'meetings', ['lead_id'])
    op.create_index('ix_meetings_external_id', 'meetings', ['external_id'])
    for column in ('follow_up_due_at', 'follow_up_from', 'follow_up_met_at'):
        op.add_column('handoffs', sa.Column(column, WHEN(), nullable=True))
    op.execute(
        "INSERT INTO meetings (lead_id, handoff_id, host, status, starts_at, booked_at, reschedules, source, "
        "credit, updated_by, updated_at) "
        "SELECT lead_id, handoff_id, rep, 'booked', NULL, at, 0, 'rep', 0, 'migration 0012', at "
        "FROM touches WHERE outcome = 'meeting_booked' ORDER BY id")


def downgrade() -> None:
    with op.batch_alter_table('handoffs') as batch:
        for column in ('follow_up_met_at', 'follow_up_from', 'follow_up_due_at'):
            batch.drop_column(column)
    op.drop_index('ix_meetings_external_id', table_name='meetings')
    op.drop_index('ix_meetings_lead_id', table_name='meetings')
    op.drop_table('meetings')
