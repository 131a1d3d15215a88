"""what `leads show` reads by index: leads merged into one, a lead's events by type

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

Written by hand. `leads show` lists the leads merged into the one shown; without an index
that read scanned every lead, so showing a lead got slower as the store grew (issue 14,
bench/scale.py). Few leads are merged: the index holds only those. A lead's alerts (its events of
one type, newest first) were read through the index on (type, at), every alert of every lead;
the index on the events' lead becomes one on (lead, type, at), which serves both reads.
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    where = sa.text("merged_into IS NOT NULL")
    op.create_index('ix_leads_merged_into', 'leads', ['merged_into'], unique=False, sqlite_where=where,
                    postgresql_where=where)
    op.create_index('ix_domain_events_lead_id_type_at', 'domain_events', ['lead_id', 'type', 'at'], unique=False)
    op.drop_index('ix_domain_events_lead_id', table_name='domain_events')


def downgrade() -> None:
    op.create_index('ix_domain_events_lead_id', 'domain_events', ['lead_id'], unique=False)
    op.drop_index('ix_domain_events_lead_id_type_at', table_name='domain_events')
    op.drop_index('ix_leads_merged_into', table_name='leads')
