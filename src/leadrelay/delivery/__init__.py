"""Delivery: the outbox (written with the state change) and the worker that sends it.

    enqueue(conn, notices, notifications, now)          in the engine's transaction
    deliver_due(engine, settings, notifications, now)   in the worker, as often as you like
    retry(engine, ids, now)                             replay dead (or any) messages

Channels: Standard Webhooks (signed HTTP), Slack incoming webhooks, email over SMTP.
"""
