"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadrelay.storage.tables

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('accounts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('group_id', sa.String(length=200), nullable=True),
    sa.Column('domain', sa.String(length=253), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('traits', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('updated_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('group_id', name=op.f('uq_accounts_group_id'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_domain'), ['domain'], unique=False)

    op.create_table('playbooks',
    sa.Column('version', sa.String(length=12), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_playbooks'))
    )
    op.create_table('rejections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=True),
    sa.Column('position', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('received_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejections'))
    )
    op.create_table('leads',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('user_id', sa.String(length=200), nullable=True),
    sa.Column('company_domain', sa.String(length=253), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('persona', sa.String(length=80), nullable=True),
    sa.Column('traits', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('trait_times', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=True),
    sa.Column('furthest_stage', sa.String(length=16), nullable=True),
    sa.Column('stage_changed_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('segment', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=80), nullable=True),
    sa.Column('fit_score', sa.Float(), nullable=False),
    sa.Column('engagement_score', sa.Float(), nullable=False),
    sa.Column('engagement_as_of', sa.Float(), nullable=True),
    sa.Column('engine_state', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('disqualified_by', sa.String(length=80), nullable=True),
    sa.Column('disqualified_from', sa.String(length=16), nullable=True),
    sa.Column('first_seen_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('last_activity_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('merged_into', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('updated_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_leads_account_id_accounts')),
    sa.ForeignKeyConstraint(['merged_into'], ['leads.id'], name=op.f('fk_leads_merged_into_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads'))
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leads_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_stage'), ['stage'], unique=False)

    op.create_table('activities',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=10), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('occurred_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('received_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('anonymous_id', sa.String(length=200), nullable=True),
    sa.Column('user_id', sa.String(length=200), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('group_id', sa.String(length=200), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_activities_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities')),
    sa.UniqueConstraint('source', 'message_id', name='uq_activities_source_message_id')
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_lead_id_occurred_at', ['lead_id', 'occurred_at'], unique=False)

    op.create_table('identities',
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_identities_lead_id_leads')),
    sa.PrimaryKeyConstraint('kind', 'value', name=op.f('pk_identities'))
    )
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_lead_id'), ['lead_id'], unique=False)

    op.create_table('score_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('rule_id', sa.String(length=80), nullable=False),
    sa.Column('delta', sa.Float(), nullable=False),
    sa.Column('occurred_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('activity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('playbook_version', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_score_changes_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_changes'))
    )
    with op.batch_alter_table('score_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_score_changes_lead_id'), ['lead_id'], unique=False)

    op.create_table('stage_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('from_stage', sa.String(length=16), nullable=True),
    sa.Column('to_stage', sa.String(length=16), nullable=False),
    sa.Column('at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('transition', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('activity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('playbook_version', sa.String(length=12), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_stage_changes_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_changes'))
    )
    with op.batch_alter_table('stage_changes', schema=None) as batch_op:
        batch_op.create_index('ix_stage_changes_lead_id_at', ['lead_id', 'at'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('stage_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_changes_lead_id_at')

    op.drop_table('stage_changes')
    with op.batch_alter_table('score_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_score_changes_lead_id'))

    op.drop_table('score_changes')
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_lead_id'))

    op.drop_table('identities')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_lead_id_occurred_at')

    op.drop_table('activities')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_stage'))
        batch_op.drop_index(batch_op.f('ix_leads_owner'))
        batch_op.drop_index(batch_op.f('ix_leads_email'))
        batch_op.drop_index(batch_op.f('ix_leads_account_id'))

    op.drop_table('leads')
    op.drop_table('rejections')
    op.drop_table('playbooks')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_domain'))

    op.drop_table('accounts')
    
