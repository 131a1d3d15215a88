"""api tokens and playbook versions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Written by hand (see storage/api_tables.py): it creates only the API's own tables, so it
depends on the migration chain and on the `playbooks` table of 0001, nothing else.
"""
import sqlalchemy as sa
from alembic import op

import leadrelay.storage.tables

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('rep_id', sa.String(length=80), nullable=True),
        sa.Column('team', sa.String(length=80), nullable=True),
        sa.Column('source', sa.String(length=64), nullable=True),
        sa.Column('label', sa.Text(), nullable=True),
        sa.Column('created_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
        sa.Column('revoked_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
        sa.Column('last_used_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash')),
    )
    op.create_table(
        'active_playbook',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.String(length=12), nullable=False),
        sa.Column('activated_by', sa.String(length=120), nullable=False),
        sa.Column('activated_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_active_playbook_single_row')),
        sa.ForeignKeyConstraint(['version'], ['playbooks.version'],
                                name=op.f('fk_active_playbook_version_playbooks')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_active_playbook')),
    )


def downgrade() -> None:
    op.drop_table('active_playbook')
    op.drop_table('api_tokens')
