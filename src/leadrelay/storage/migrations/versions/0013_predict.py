"""predictive score: imported outcomes, model versions, lead predictions, and the probability conditions read

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

import leadrelay.storage.tables

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = leadrelay.storage.tables.UTCDateTime
DOCUMENT = leadrelay.storage.tables.Document


def upgrade() -> None:
    op.create_table(
        'lead_outcomes',
        sa.Column('lead_id', ID, nullable=False),
        sa.Column('converted', sa.Boolean(), nullable=False),
        sa.Column('decided_at', WHEN(), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('recorded_at', WHEN(), nullable=False),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_outcomes_lead_id_leads')),
        sa.PrimaryKeyConstraint('lead_id', name=op.f('pk_lead_outcomes')),
    )
    op.create_table(
        'model_versions',
        sa.Column('version', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('trained_at', WHEN(), nullable=False),
        sa.Column('trigger', sa.String(length=12), nullable=False),
        sa.Column('playbook_version', sa.String(length=12), nullable=False),
        sa.Column('library', sa.String(length=40), nullable=False),
        sa.Column('outcomes', sa.Integer(), nullable=False),
        sa.Column('converted', sa.Integer(), nullable=False),
        sa.Column('features', DOCUMENT, nullable=False),
        sa.Column('report', DOCUMENT, nullable=False),
        sa.Column('estimator', sa.LargeBinary(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_model_versions')),
    )
    op.create_table(
        'lead_predictions',
        sa.Column('lead_id', ID, nullable=False),
        sa.Column('model_version', sa.Integer(), nullable=False),
        sa.Column('probability', sa.Float(), nullable=False),
        sa.Column('factors', DOCUMENT, nullable=False),
        sa.Column('scored_at', WHEN(), nullable=False),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_predictions_lead_id_leads')),
        sa.ForeignKeyConstraint(['model_version'], ['model_versions.version'],
                                name=op.f('fk_lead_predictions_model_version_model_versions')),
        sa.PrimaryKeyConstraint('lead_id', name=op.f('pk_lead_predictions')),
    )
    op.create_index('ix_lead_predictions_model_version', 'lead_predictions', ['model_version'])
    op.add_column('leads', sa.Column('predicted', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('leads') as batch:
        batch.drop_column('predicted')
    op.drop_index('ix_lead_predictions_model_version', table_name='lead_predictions')
    op.drop_table('lead_predictions')
    op.drop_table('model_versions')
    op.drop_table('lead_outcomes')
