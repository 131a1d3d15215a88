"""spend: marketing spend per month, source and campaign, for the sources report; outbox by lead

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Written by hand.
"""
import sqlalchemy as sa
from alembic import op

import leadrelay.storage.tables

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'spend',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('source', sa.String(length=120), nullable=False),
        sa.Column('campaign', sa.String(length=200), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('imported_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('month', 'source', 'campaign', 'currency', name='uq_spend_month_source_campaign_currency'),
    )
    op.create_index('ix_outbox_lead_id', 'outbox', ['lead_id'])  # the reports and withdrawals read it by lead


def downgrade() -> None:
    op.drop_index('ix_outbox_lead_id', table_name='outbox')
    op.drop_table('spend')
