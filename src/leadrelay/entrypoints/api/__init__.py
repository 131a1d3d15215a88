"""The HTTP API: Segment-compatible ingestion (/v1/...) and REST for leads and rep actions (/api/...).

`leadrelay.entrypoints.api.app.create_app(app)` builds it; `leadrelay serve` runs it, with the
web app beside it (`leadrelay.entrypoints.server`), on uvicorn.
"""
