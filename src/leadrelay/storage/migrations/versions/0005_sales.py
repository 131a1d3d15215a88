"""sales: qualification answers, PQL, opportunities and their history, forecast snapshots

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Written by hand (see storage/sales_tables.py): it creates only the sales side's own
tables, which refer to `leads` and `accounts` of 0001 and nothing else.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadrelay.storage.tables

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = leadrelay.storage.tables.UTCDateTime
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'qualification_answers',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('lead_id', ID, nullable=False),
        sa.Column('framework', sa.String(length=80), nullable=False),
        sa.Column('criterion', sa.String(length=80), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('answered_by', sa.String(length=120), nullable=False),
        sa.Column('answered_at', WHEN(), nullable=False),
        sa.Column('playbook_version', sa.String(length=12), nullable=True),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_qualification_answers_lead_id_leads')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_qualification_answers')),
    )
    op.create_index('ix_qualification_answers_lead_id_framework', 'qualification_answers',
                    ['lead_id', 'framework'], unique=False)

    op.create_table(
        'pql_signals',
        sa.Column('lead_id', ID, nullable=False),
        sa.Column('signal', sa.String(length=80), nullable=False),
        sa.Column('at', WHEN(), nullable=False),
        sa.Column('activity_id', ID, nullable=True),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_pql_signals_lead_id_leads')),
        sa.PrimaryKeyConstraint('lead_id', 'signal', name=op.f('pk_pql_signals')),
    )
    op.create_table(
        'product_qualified',
        sa.Column('lead_id', ID, nullable=False),
        sa.Column('at', WHEN(), nullable=False),
        sa.Column('signals', DOCUMENT, nullable=False),
        sa.Column('playbook_version', sa.String(length=12), nullable=True),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_product_qualified_lead_id_leads')),
        sa.PrimaryKeyConstraint('lead_id', name=op.f('pk_product_qualified')),
    )

    op.create_table(
        'opportunities',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('account_id', ID, nullable=False),
        sa.Column('lead_id', ID, nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('close_date', sa.Date(), nullable=False),
        sa.Column('owner', sa.String(length=80), nullable=False),
        sa.Column('stage', sa.String(length=80), nullable=False),
        sa.Column('probability', sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column('probability_override', sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column('forecast_category', sa.String(length=12), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('lost_reason', sa.String(length=80), nullable=True),
        sa.Column('created_by', sa.String(length=120), nullable=False),
        sa.Column('created_at', WHEN(), nullable=False),
        sa.Column('updated_at', WHEN(), nullable=False),
        sa.Column('closed_at', WHEN(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('playbook_version', sa.String(length=12), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_opportunities_account_id_accounts')),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_opportunities_lead_id_leads')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunities')),
    )
    op.create_index(op.f('ix_opportunities_account_id'), 'opportunities', ['account_id'], unique=False)
    op.create_index(op.f('ix_opportunities_lead_id'), 'opportunities', ['lead_id'], unique=False)
    op.create_index('ix_opportunities_status_owner', 'opportunities', ['status', 'owner'], unique=False)

    op.create_table(
        'opportunity_history',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('opportunity_id', ID, nullable=False),
        sa.Column('at', WHEN(), nullable=False),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('changes', DOCUMENT, nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'],
                                name=op.f('fk_opportunity_history_opportunity_id_opportunities')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_history')),
    )
    op.create_index(op.f('ix_opportunity_history_opportunity_id'), 'opportunity_history', ['opportunity_id'],
                    unique=False)

    op.create_table(
        'forecast_snapshots',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('week', sa.String(length=8), nullable=False),
        sa.Column('taken_at', WHEN(), nullable=False),
        sa.Column('taken_by', sa.String(length=120), nullable=False),
        sa.Column('totals', DOCUMENT, nullable=False),
        sa.Column('playbook_version', sa.String(length=12), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_forecast_snapshots')),
        sa.UniqueConstraint('week', name='uq_forecast_snapshots_week'),
    )
    op.create_table(
        'forecast_snapshot_deals',
        sa.Column('snapshot_id', ID, nullable=False),
        sa.Column('opportunity_id', ID, nullable=False),
        sa.Column('owner', sa.String(length=80), nullable=False),
        sa.Column('team', sa.String(length=80), nullable=True),
        sa.Column('stage', sa.String(length=80), nullable=False),
        sa.Column('forecast_category', sa.String(length=12), nullable=False),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('probability', sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column('close_date', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['snapshot_id'], ['forecast_snapshots.id'],
                                name=op.f('fk_forecast_snapshot_deals_snapshot_id_forecast_snapshots')),
        sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'],
                                name=op.f('fk_forecast_snapshot_deals_opportunity_id_opportunities')),
        sa.PrimaryKeyConstraint('snapshot_id', 'opportunity_id', name=op.f('pk_forecast_snapshot_deals')),
    )


def downgrade() -> None:
    op.drop_table('forecast_snapshot_deals')
    op.drop_table('forecast_snapshots')
    op.drop_index(op.f('ix_opportunity_history_opportunity_id'), table_name='opportunity_history')
    op.drop_table('opportunity_history')
    op.drop_index('ix_opportunities_status_owner', table_name='opportunities')
    op.drop_index(op.f('ix_opportunities_lead_id'), table_name='opportunities')
    op.drop_index(op.f('ix_opportunities_account_id'), table_name='opportunities')
    op.drop_table('opportunities')
    op.drop_table('product_qualified')
    op.drop_table('pql_signals')
    op.drop_index('ix_qualification_answers_lead_id_framework', table_name='qualification_answers')
    op.drop_table('qualification_answers')
