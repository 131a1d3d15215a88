"""Tables for the reports' rollups: counts per day (and month) and dimension, kept up to date from the leads.

`report_cells` holds a row per grain (`d` a day, `m` a month, dated its first day),
dimension (`all`, `source`, `campaign`, `persona`, `segment`, `country`, `rep`, ...), value
('' when the lead has none), day and part (the metrics one report reads together): for
each metric, how many facts count there and, for durations, their counts per bucket
(`counts`: `{metric: [n, bucket, count, ...]}`, see `reports.sketch`). `report_leads`
remembers the facts each lead counted for, with their dimensions, so that a change takes
back exactly what was added before. Triggers (migration 0009) mark a lead in
`report_dirty` whenever its stage history or a dimension changes, whoever wrote it;
`reports.rollups.refresh` applies the marks. `report_state` holds the funnel stages the
cells were counted with.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, String, Table, Text

from leadrelay.storage.tables import Document, Id, metadata

report_cells = Table(
    "report_cells", metadata,
    Column("grain", String(1), primary_key=True),
    Column("dimension", String(16), primary_key=True),
    Column("value", String(400), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("part", String(16), primary_key=True),  # which metrics: see reports.rollups.part_of
    Column("counts", Document, nullable=False),
)

report_leads = Table(
    "report_leads", metadata,
    Column("lead_id", Id, primary_key=True, autoincrement=False),
    Column("facts", Document, nullable=False),  # [[family, [cell values], [[metric, day, bucket], ...]], ...]
)

report_dirty = Table(
    "report_dirty", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, nullable=False),
)

report_state = Table(
    "report_state", metadata,
    Column("key", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)
