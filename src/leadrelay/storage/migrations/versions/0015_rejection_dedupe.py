"""a rejected message is stored once: rejections.fingerprint, seen, last_seen_at

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08

Written by hand. A retried batch or a file ingested again used to store each rejected
message once more. New rows carry a fingerprint (the message, and why it was turned
away), unique per source, and count how often they were seen. Rows stored before have
no fingerprint, are seen once and last seen when received, and are left as they are:
their payload may have been cut at 10,000 characters, so no fingerprint can be rebuilt.
"""
import sqlalchemy as sa
from alembic import op

import leadrelay.storage.tables

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

WHEN = leadrelay.storage.tables.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table('rejections') as batch:
        batch.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('seen', sa.Integer(), nullable=False, server_default='1'))
        batch.add_column(sa.Column('last_seen_at', WHEN(), nullable=True))
    op.execute("UPDATE rejections SET last_seen_at = received_at")
    with op.batch_alter_table('rejections') as batch:
        batch.alter_column('last_seen_at', existing_type=WHEN(), nullable=False)
        batch.create_unique_constraint('uq_rejections_source_fingerprint', ['source', 'fingerprint'])


def downgrade() -> None:
    with op.batch_alter_table('rejections') as batch:
        batch.drop_constraint('uq_rejections_source_fingerprint', type_='unique')
        batch.drop_column('last_seen_at')
        batch.drop_column('seen')
        batch.drop_column('fingerprint')
