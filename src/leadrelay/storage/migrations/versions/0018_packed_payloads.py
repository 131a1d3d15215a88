"""packed payloads: activity payloads stored as zstd frames against a dictionary trained on the store's payloads

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

Written by hand. An activity's payload was JSON (some 600 bytes on the demo stream, most of a
row); it is now packed by `leadrelay.storage.packing` (about 60 bytes). Existing payloads are
packed here, against a dictionary trained on the newest of them when the store holds enough
(`TRAIN_AFTER`). The packed column replaces the JSON one under the same name. On SQLite the
new column stays nullable in the schema (SQLite changes a column's constraints only by
copying the table); LeadRelay never writes NULL there. SQLite keeps the freed pages for
later rows: `VACUUM` gives them back to the file system.
"""
import logging

import sqlalchemy as sa
from alembic import op

from leadrelay.storage.packing import TRAIN_AFTER, TRAIN_SAMPLE, Payloads, as_json

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
BATCH = 5_000

activities = sa.table('activities', sa.column('id', sa.BigInteger), sa.column('payload', sa.JSON),
                      sa.column('packed', sa.LargeBinary))


def upgrade() -> None:
    op.create_table(
        'payload_dictionaries',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('samples', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payload_dictionaries')),
    )
    op.add_column('activities', sa.Column('packed', sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    a = activities.c
    packer = Payloads()
    newest = conn.execute(sa.select(a.payload).order_by(a.id.desc()).limit(TRAIN_SAMPLE)).scalars()
    sample = [as_json(payload) for payload in newest if payload]
    if len(sample) >= TRAIN_AFTER:
        packer.train(conn, sample)
    through, packed = 0, 0
    while rows := conn.execute(sa.select(a.id, a.payload).where(a.id > through).order_by(a.id).limit(BATCH)).all():
        conn.execute(sa.update(activities).where(a.id == sa.bindparam('b_id')),
                     [{'b_id': row.id, 'packed': packer.pack(row.payload)} for row in rows])
        through, packed = rows[-1].id, packed + len(rows)
    if packed:
        log.info("activity payloads: %d packed", packed)
    op.execute("ALTER TABLE activities DROP COLUMN payload")  # SQLite 3.35 and later, PostgreSQL
    op.execute("ALTER TABLE activities RENAME COLUMN packed TO payload")
    if conn.dialect.name == 'postgresql':
        op.alter_column('activities', 'payload', nullable=False)


def downgrade() -> None:
    raise NotImplementedError("packed payloads are not unpacked again: restore a backup taken before the upgrade")
