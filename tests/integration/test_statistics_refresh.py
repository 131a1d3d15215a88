"""PostgreSQL's statistics are refreshed as the store grows, not on every ingest call (issue 14).

A long stream refreshes them after its batches 1, 2, 4, 8, ... (a fresh table's planner would
otherwise scan it for every duplicate check); a server taking one message per request refreshed
them on every request, most of a hand-raiser's time on PostgreSQL. Now both count what this
process ingested: a refresh after 1, 2, 4, 8, ... batches' worth, however it came. SQLite has
nothing to refresh.
"""

from sqlalchemy import event

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.settings import Settings
from tests.conftest import T0
from tests.messages import numbered, page


def analyses_during(app, call) -> int:
    seen: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("ANALYZE"):
            seen.append(statement)

    event.listen(app.engine, "before_cursor_execute", remember)
    try:
        call()
    finally:
        event.remove(app.engine, "before_cursor_execute", remember)
    return len(seen)


def views(first: int, count: int) -> list[tuple[str, dict]]:
    return numbered([page(f"/p{n}", anon=f"a{n}", when=T0, message_id=f"m{n}") for n in range(first, first + count)])


def test_statistics_are_refreshed_as_the_store_doubles_whether_it_comes_in_one_call_or_many(database_url, playbook):
    postgres = database_url.startswith("postgresql")
    app = bootstrap(Settings(database_url=database_url, batch_size=5), playbook=playbook)
    try:
        # One stream of 40 messages: batches 1, 2, 4 and 8 of 5.
        assert analyses_during(app, lambda: ingest(app, views(0, 40))) == (4 if postgres else 0)
        # Forty requests of one message each: 80 ingested in all after the 40th, the next doubling.
        requests = analyses_during(app, lambda: [ingest(app, views(n, 1)) for n in range(40, 80)])
        assert requests == (1 if postgres else 0)
    finally:
        app.close()
