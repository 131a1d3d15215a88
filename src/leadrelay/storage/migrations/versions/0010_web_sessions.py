"""web sessions and one-time sign-in links for the web app

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

Written by hand.
"""
import sqlalchemy as sa
from alembic import op

import leadrelay.storage.tables

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'web_sessions',
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('token_id', ID, nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
        sa.Column('expires_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
        sa.Column('ended_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_web_sessions_token_id_api_tokens')),
        sa.PrimaryKeyConstraint('secret_hash', name=op.f('pk_web_sessions')),
    )
    op.create_index('ix_web_sessions_token_id', 'web_sessions', ['token_id'])
    op.create_table(
        'login_links',
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('token_id', ID, nullable=False),
        sa.Column('created_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
        sa.Column('expires_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
        sa.Column('used_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_login_links_token_id_api_tokens')),
        sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_login_links')),
    )


def downgrade() -> None:
    op.drop_table('login_links')
    op.drop_index('ix_web_sessions_token_id', table_name='web_sessions')
    op.drop_table('web_sessions')
