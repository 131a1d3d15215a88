"""data protection: erasures, erased_identities, privacy_state (with the install's salt)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09

Written by hand. The salt that keys the digests of erased identities is made here, once
per database, from the operating system's random source: a digest made in one install
cannot be matched against another's, nor against a table of digests of common addresses.
"""
import secrets

import sqlalchemy as sa
from alembic import op

import leadrelay.storage.tables

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

WHEN = leadrelay.storage.tables.UTCDateTime
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
DOCUMENT = leadrelay.storage.tables.Document


def upgrade() -> None:
    op.create_table(
        'erasures',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('lead_id', ID, nullable=False),
        sa.Column('leads', DOCUMENT, nullable=False),
        sa.Column('erased_at', WHEN(), nullable=False),
        sa.Column('erased_by', sa.String(length=120), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('identities', sa.Integer(), nullable=False),
        sa.Column('counts', DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_erasures_lead_id_leads')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures')),
    )
    op.create_index(op.f('ix_erasures_lead_id'), 'erasures', ['lead_id'])
    op.create_table(
        'erased_identities',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('erasure_id', ID, nullable=False),
        sa.Column('lifted_at', WHEN(), nullable=True),
        sa.Column('lifted_by', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['erasure_id'], ['erasures.id'], name=op.f('fk_erased_identities_erasure_id_erasures')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_erased_identities')),
    )
    op.create_index('ix_erased_identities_digest', 'erased_identities', ['digest'])
    state = op.create_table(
        'privacy_state',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_privacy_state')),
    )
    op.bulk_insert(state, [{'key': 'salt', 'value': secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table('privacy_state')
    op.drop_index('ix_erased_identities_digest', table_name='erased_identities')
    op.drop_table('erased_identities')
    op.drop_index(op.f('ix_erasures_lead_id'), table_name='erasures')
    op.drop_table('erasures')
