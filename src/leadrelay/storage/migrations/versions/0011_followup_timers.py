"""absence timers: the playbook's follow-ups (did X but not Y within N)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

Written by hand.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadrelay.storage.tables

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'followup_timers',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('lead_id', ID, nullable=False),
        sa.Column('followup', sa.String(length=80), nullable=False),
        sa.Column('started_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
        sa.Column('due_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('closed_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
        sa.Column('activity', sa.Text(), nullable=True),
        sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_followup_timers_lead_id_leads')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_followup_timers')),
    )
    op.create_index('ix_followup_timers_status_due_at', 'followup_timers', ['status', 'due_at'])
    op.create_index('ix_followup_timers_lead_id', 'followup_timers', ['lead_id'])


def downgrade() -> None:
    op.drop_index('ix_followup_timers_lead_id', table_name='followup_timers')
    op.drop_index('ix_followup_timers_status_due_at', table_name='followup_timers')
    op.drop_table('followup_timers')
