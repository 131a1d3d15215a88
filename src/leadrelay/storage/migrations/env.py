"""Alembic environment: runs on the connection LeadRelay hands it (see storage/migrate.py)."""

from alembic import context

import leadrelay.storage.api_tables  # noqa: F401
import leadrelay.storage.handoff_tables  # noqa: F401 - every table module registers on `metadata`
import leadrelay.storage.outbox_tables  # noqa: F401
import leadrelay.storage.predict_tables  # noqa: F401
import leadrelay.storage.privacy_tables  # noqa: F401
import leadrelay.storage.report_tables  # noqa: F401
import leadrelay.storage.sales_tables  # noqa: F401
from leadrelay.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `leadrelay db upgrade`, which passes the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
