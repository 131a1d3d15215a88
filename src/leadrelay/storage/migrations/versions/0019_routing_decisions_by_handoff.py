"""routing decisions by handoff: an index on routing_decisions (handoff_id, id)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

Written by hand. Assigning a queue reads, for each lead still waiting, its handoff's latest
routing decision (and, for a lead queued again, when it started waiting). Without an index
on the decisions' handoff those reads scanned every decision ever stored, so assigning the
same queue got slower as the history grew (issue 14: a million past assignments).
"""
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_routing_decisions_handoff_id_id', 'routing_decisions', ['handoff_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_routing_decisions_handoff_id_id', table_name='routing_decisions')
