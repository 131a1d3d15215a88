"""tokens may expire: api_tokens.valid_until

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import leadrelay.storage.tables

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

WHEN = leadrelay.storage.tables.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(sa.Column('valid_until', WHEN(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('valid_until')
