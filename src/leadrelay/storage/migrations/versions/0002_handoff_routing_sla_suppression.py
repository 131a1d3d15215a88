"""Handoff: routing decisions, SLA timers, touches, rep overrides, account owners, suppressions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadrelay.storage.tables

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rep_overrides',
    sa.Column('rep', sa.String(length=80), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('daily_quota', sa.Integer(), nullable=True),
    sa.Column('weight', sa.Float(), nullable=True),
    sa.Column('away', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('updated_by', sa.String(length=120), nullable=False),
    sa.Column('updated_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('rep', name=op.f('pk_rep_overrides'))
    )
    op.create_table('account_owners',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rep', sa.String(length=80), nullable=False),
    sa.Column('set_by', sa.String(length=120), nullable=False),
    sa.Column('set_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_owners_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_owners'))
    )
    op.create_table('handoffs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('from_function', sa.String(length=20), nullable=False),
    sa.Column('to_function', sa.String(length=20), nullable=False),
    sa.Column('team', sa.String(length=80), nullable=True),
    sa.Column('owner', sa.String(length=80), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('policy_id', sa.String(length=80), nullable=True),
    sa.Column('opened_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('assigned_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('accepted_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('first_touch_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('last_touch_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('touches', sa.Integer(), nullable=False),
    sa.Column('touches_required', sa.Integer(), nullable=True),
    sa.Column('accept_due_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('first_touch_due_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('touches_due_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('stale_alerted_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('closed_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('playbook_version', sa.String(length=12), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_handoffs_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs'))
    )
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoffs_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index('ix_handoffs_status_owner', ['status', 'owner'], unique=False)
        batch_op.create_index('ix_handoffs_status_team_opened_at', ['status', 'team', 'opened_at'], unique=False)

    op.create_table('suppressions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('permanent', sa.Boolean(), nullable=False),
    sa.Column('created_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('lifted_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('lifted_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_suppressions_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions'))
    )
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.create_index('ix_suppressions_channel_lifted_at', ['channel', 'lifted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_suppressions_lead_id'), ['lead_id'], unique=False)

    op.create_table('routing_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('handoff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('rule_id', sa.String(length=80), nullable=True),
    sa.Column('team', sa.String(length=80), nullable=True),
    sa.Column('owner', sa.String(length=80), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('candidates', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('playbook_version', sa.String(length=12), nullable=True),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_routing_decisions_handoff_id_handoffs')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_routing_decisions_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_decisions'))
    )
    with op.batch_alter_table('routing_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_decisions_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_decisions_owner'), ['owner'], unique=False)

    op.create_table('sla_timers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('handoff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('policy_id', sa.String(length=80), nullable=False),
    sa.Column('deadline', sa.String(length=12), nullable=False),
    sa.Column('step', sa.String(length=12), nullable=False),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=True),
    sa.Column('due_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('fire_at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.Column('fired_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('cancelled_at', leadrelay.storage.tables.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_sla_timers_handoff_id_handoffs')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_sla_timers_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_timers'))
    )
    with op.batch_alter_table('sla_timers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_timers_handoff_id'), ['handoff_id'], unique=False)
        batch_op.create_index('ix_sla_timers_pending', ['fired_at', 'cancelled_at', 'fire_at'], unique=False)

    op.create_table('touches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('handoff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('rep', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', leadrelay.storage.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_touches_handoff_id_handoffs')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_touches_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_touches'))
    )
    with op.batch_alter_table('touches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_touches_lead_id'), ['lead_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('touches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_touches_lead_id'))

    op.drop_table('touches')
    with op.batch_alter_table('sla_timers', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_timers_pending')
        batch_op.drop_index(batch_op.f('ix_sla_timers_handoff_id'))

    op.drop_table('sla_timers')
    with op.batch_alter_table('routing_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_decisions_owner'))
        batch_op.drop_index(batch_op.f('ix_routing_decisions_lead_id'))

    op.drop_table('routing_decisions')
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppressions_lead_id'))
        batch_op.drop_index('ix_suppressions_channel_lifted_at')

    op.drop_table('suppressions')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('ix_handoffs_status_team_opened_at')
        batch_op.drop_index('ix_handoffs_status_owner')
        batch_op.drop_index(batch_op.f('ix_handoffs_lead_id'))

    op.drop_table('handoffs')
    op.drop_table('account_owners')
    op.drop_table('rep_overrides')
