"""Fixtures for the HTTP API: the app, a client, one token per role, leads with owners, a real server.

The playbook is the starter with one extra rep, Zoe, so a test can "delete" her by
activating the plain starter. The people tests rely on are read from the playbook:
`team` (a team with at least two reps), `rep` and `teammate` in it, `stranger` in
another team.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from leadrelay.access.tokens import create_token
from leadrelay.activity.service import ingest
from leadrelay.bootstrap import App, bootstrap
from leadrelay.entrypoints.api.app import create_app
from leadrelay.handoff import service as rep_actions
from leadrelay.playbook.loader import Playbook, parse_playbook, starter_text
from leadrelay.sales import service as opportunities
from leadrelay.sales.qualify import advance_to_sql, record_answers
from leadrelay.settings import Settings
from leadrelay.storage import tables as t
from tests.conftest import T0, Clock
from tests.messages import identify, numbered, track

ZOE = {"id": "zoe", "name": "Zoe Test", "email": "zoe@acme-analytics.example", "timezone": "UTC",
       "working_hours": {"mon-fri": "09:00-17:00"}}


@functools.cache
def playbook_with_zoe() -> Playbook:
    data = yaml.safe_load(starter_text())
    people = People.of(parse_playbook(starter_text(), "starter.yaml"))
    data["reps"] = [*data["reps"], {**ZOE, "team": people.team}]
    return parse_playbook(yaml.safe_dump(data, sort_keys=False), "api-test-playbook.yaml")


@dataclass(frozen=True)
class People:
    team: str  # a team with at least two reps
    rep: str
    teammate: str
    stranger: str  # a rep in another team

    @classmethod
    def of(cls, playbook: Playbook) -> People:
        reps = playbook.model.reps
        for team in playbook.model.teams:
            members = [r.id for r in reps if r.team == team.id]
            others = [r.id for r in reps if r.team != team.id]
            if len(members) >= 2 and others:
                return cls(team.id, members[0], members[1], others[0])
        raise AssertionError("the starter playbook needs a team of two reps and a rep in another team")


@pytest.fixture
def playbook() -> Playbook:
    return playbook_with_zoe()


@pytest.fixture
def people(playbook) -> People:
    return People.of(playbook)


@pytest.fixture
def api(app) -> FastAPI:
    return create_app(app)


@pytest.fixture
def client(api) -> Iterator[TestClient]:
    with TestClient(api) as test_client:
        yield test_client


@dataclass
class Tokens:
    admin: str
    marketing: str
    manager: str
    rep: str
    teammate: str
    stranger: str
    zoe: str
    ingest: str

    def of(self, role: str) -> str:
        return getattr(self, role)


@pytest.fixture
def tokens(app, people) -> Tokens:
    return make_tokens(app, people)


def make_tokens(app: App, people: People) -> Tokens:
    def make(role, **kw):
        return create_token(app.engine, role, now=app.clock(), **kw)[1]

    return Tokens(
        admin=make("admin"), marketing=make("marketing"), manager=make("manager", team=people.team),
        rep=make("rep", rep_id=people.rep), teammate=make("rep", rep_id=people.teammate),
        stranger=make("rep", rep_id=people.stranger), zoe=make("rep", rep_id="zoe"),
        ingest=make("ingest", source="web"),
    )


@dataclass
class Shared:
    """One SQLite-backed app for a whole module: for behaviour no database changes (parsing, limits, auth)."""

    app: App
    api: FastAPI
    client: TestClient
    tokens: Tokens


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[Shared]:
    path = tmp_path_factory.mktemp("api") / "leadrelay.db"
    app = bootstrap(Settings(database_url=f"sqlite:///{path}", batch_size=500), playbook=playbook_with_zoe(),
                    clock=Clock(T0))
    api = create_app(app)
    with TestClient(api) as test_client:
        yield Shared(app, api, test_client, make_tokens(app, People.of(app.playbook)))
    app.close()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def add_lead(app: App, email: str, *, owner: str | None, title: str = "VP Sales", hand_raise: bool = False,
             **traits) -> int:
    """A known lead, through the engine, owned by `owner`.

    With `hand_raise` it requests a demo: sales-accepted and handed over, and the handoff
    is reassigned to `owner` (as `leadrelay leads reassign` does). Without, the lead stays
    with marketing and `owner` is written by hand.
    """
    messages = [identify(user=email, email=email, title=title, **traits)]
    if hand_raise:
        messages.append(track("Demo Requested", user=email))
    ingest(app, numbered(messages))
    with app.engine.connect() as conn:
        lead_id, current = conn.execute(
            select(t.leads.c.id, t.leads.c.owner).join(t.identities, t.identities.c.lead_id == t.leads.c.id)
            .where(t.identities.c.kind == "email", t.identities.c.value == email)).one()
    if hand_raise and owner is not None and owner != current:
        rep_actions.reassign(app, lead_id, actor="test:setup", to=owner)
    elif not hand_raise:
        with app.engine.begin() as conn:
            conn.execute(update(t.leads).where(t.leads.c.id == lead_id).values(owner=owner))
    return lead_id


QUALIFIED = [("budget", "yes"), ("authority", "decision_maker"), ("need", "critical")]  # 3 of 4 BANT: the gate's bar


def add_sql(app: App, email: str, *, sdr: str = "alice") -> int:
    """An SQL, through the services: a demo request that `sdr` qualifies (a meeting booked) and passes to the
    AEs (erin, then felix: round robin). Returns the lead's id."""
    lead_id = add_lead(app, email, owner=sdr, hand_raise=True)
    record_answers(app, lead_id, QUALIFIED, rep=sdr)
    rep_actions.log_touch(app, lead_id, rep=sdr, kind="call", outcome="meeting_booked")
    advance_to_sql(app, lead_id, rep=sdr)
    return lead_id


def add_deal(app: App, email: str, *, owner: str, sdr: str = "alice", amount: str = "1000",
             close_in_days: int = 60) -> int:
    """An open opportunity owned by `owner`: an SQL (`add_sql`) converted by an admin. Returns its id."""
    lead_id = add_sql(app, email, sdr=sdr)
    close = app.clock().date() + timedelta(days=close_in_days)
    result = opportunities.convert(app, lead_id, rep=None, actor="test:setup", owner=owner, name=f"Deal {email}",
                                   amount=amount, close_date=close)
    return result["opportunity"]["id"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningServer:
    """The app on uvicorn, on a free loopback port, in a thread."""

    def __init__(self, api: FastAPI):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=self.port, log_config=None,
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server(api) -> Iterator[RunningServer]:
    with RunningServer(api) as running:
        yield running
