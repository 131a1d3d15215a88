"""lead source: the first-touch source and campaign of each lead, for the funnel and cost reports

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Written by hand. Leads stored before this revision have no source until their activities
are replayed: `leadrelay rescore` attributes them.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('leads') as batch:
        batch.add_column(sa.Column('source', sa.String(length=120), nullable=True))
        batch.add_column(sa.Column('campaign', sa.String(length=200), nullable=True))
        batch.create_index('ix_leads_source', ['source'])


def downgrade() -> None:
    with op.batch_alter_table('leads') as batch:
        batch.drop_index('ix_leads_source')
        batch.drop_column('campaign')
        batch.drop_column('source')
