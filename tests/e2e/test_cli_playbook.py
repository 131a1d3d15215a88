"""End-to-end: `leadrelay playbook show|activate|versions` against a store where a version may be active.

`playbook show` prints what the engine runs (a named file, else the version activated in
the store, else playbook.yaml here, else the built-in starter) and says which it is;
`playbook activate FILE` makes a file the active version through the same service as
`POST /api/playbook/activate`; `playbook versions` lists the stored versions. Run in
process (tests/e2e/cli.py), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from leadrelay.bootstrap import bootstrap
from leadrelay.playbook import service as playbooks
from leadrelay.playbook.loader import parse_playbook, starter_playbook, starter_text
from leadrelay.settings import Settings
from tests.e2e.cli import Cli

STARTER_VERSION = starter_playbook().version


@pytest.fixture
def cli(tmp_path, database_url) -> Cli:
    return Cli(tmp_path, database_url)


@pytest.fixture
def store(database_url) -> Iterator:
    """The store as a server sees it (the starter, nothing activated): to activate through the API's service and
    to read what the commands stored."""
    app = bootstrap(Settings(database_url=database_url), playbook=starter_playbook())
    yield app
    app.close()


def edited(name: str, **changes) -> str:
    """The starter under another name (and with other changes): another version."""
    data = yaml.safe_load(starter_text())
    data.update(name=name, **changes)
    return yaml.safe_dump(data, sort_keys=False)


def version_of(text: str) -> str:
    return parse_playbook(text, "x.yaml").version


def write(directory: Path, filename: str, text: str) -> Path:
    path = directory / filename
    path.write_text(text, encoding="utf-8")
    return path


def stored_versions(store) -> set[str]:
    return {row["version"] for row in playbooks.list_versions(store)}


# --------------------------------------------------------------------------- playbook show


def test_show_prints_the_version_activated_through_the_api_not_the_starter(cli, store):
    """The bug: after a version was activated (API, web page), `playbook show` printed the built-in starter while
    `rescore` ran the active version."""
    text = edited("Activated through the API")
    version = playbooks.activate(store, text, "token:7", filename="pasted")
    shown = cli("playbook", "show")
    assert shown.code == 0, shown.err
    assert shown.out == text
    assert f"version {version}, active: activated by token:7" in shown.err and "starter" not in shown.err
    assert cli("rescore", "--json").json()["playbook_version"] == version  # show and rescore agree
    as_json = cli("playbook", "show", "--json").json()
    assert as_json["version"] == version and as_json["runs"] == "active" and as_json["text"] == text
    assert as_json["activated_by"] == "token:7" and as_json["note"] is None


def test_show_says_when_it_is_the_built_in_starter(cli):
    shown = cli("playbook", "show")
    assert shown.code == 0 and shown.out == starter_text()
    assert f"the built-in starter playbook (starter.yaml), version {STARTER_VERSION}" in shown.err
    assert "there is no playbook.yaml here, and none was ever activated" in shown.err
    assert cli("playbook", "show", "--json").json()["runs"] == "starter"


def test_show_prints_playbook_yaml_until_a_version_is_activated_then_says_the_file_does_not_run(cli, store, tmp_path):
    here = edited("The file here")
    write(tmp_path, "playbook.yaml", here)
    shown = cli("playbook", "show")
    assert shown.out == here and "no version has been activated, so the file here runs" in shown.err

    active = playbooks.activate(store, edited("Activated elsewhere"), "token:3")
    shown = cli("playbook", "show")
    assert shown.out == edited("Activated elsewhere")
    assert (f"note: playbook.yaml here is version {version_of(here)}, but version {active} is active and runs"
            in shown.err)
    assert cli("playbook", "show", "--json").json()["note"].startswith("note: playbook.yaml here is version")

    write(tmp_path, "playbook.yaml", "nmae: broken\n")  # an active version runs whatever the file says
    shown = cli("playbook", "show")
    assert shown.code == 0 and "playbook.yaml here is not a valid playbook" in shown.err


def test_show_prints_a_named_file_and_says_another_version_is_active(cli, store, tmp_path):
    named = write(tmp_path, "named.yaml", edited("Named"))
    shown = cli("--playbook", str(named), "playbook", "show")
    assert shown.out == edited("Named") and "the file named by --playbook or LEADRELAY_PLAYBOOK" in shown.err
    assert "note:" not in shown.err  # nothing is active: nothing to say

    active = playbooks.activate(store, edited("Active"), "token:3")
    shown = cli("--playbook", str(named), "playbook", "show")
    assert shown.code == 0 and shown.out == edited("Named")  # what a command given the file runs
    assert f"but version {active} is active (activated by token:3" in shown.err
    assert "the server and the worker run the active version" in shown.err
    assert f"leadrelay playbook activate {named}" in shown.err
    rescored = cli("--playbook", str(named), "rescore", "--json")
    assert rescored.json()["playbook_version"] == version_of(edited("Named"))  # as show says
    assert f"but version {active} is active" in rescored.err  # and rescore says so too

    as_json = cli("--playbook", str(named), "playbook", "show", "--json").json()
    assert as_json["runs"] == "named" and as_json["active_version"] == active and as_json["activated_by"] is None

    missing = cli("--playbook", "nosuch.yaml", "playbook", "show")
    assert missing.code == 1 and "--playbook nosuch.yaml: no such file" in missing.err and missing.out == ""


def test_backtest_with_a_named_file_says_it_is_compared_with_the_file_not_the_active_version(cli, store, tmp_path):
    named = write(tmp_path, "named.yaml", edited("Named"))
    candidate = write(tmp_path, "candidate.yaml", edited("Candidate"))
    active = playbooks.activate(store, edited("Active"), "token:3")
    run = cli("--playbook", str(named), "playbook", "backtest", str(candidate))
    assert f"but version {active} is active" in run.err
    assert run.code == 1 and "no history to replay" in run.err  # an empty store: nothing to replay


# --------------------------------------------------------------------------- playbook activate


def test_activate_makes_a_file_the_version_every_command_runs_and_shows_what_changed(cli, store, tmp_path):
    text = starter_text().replace("name: Acme Analytics starter playbook", "name: Kestrel v2")
    write(tmp_path, "kestrel.yaml", text)
    done = cli("playbook", "activate", "kestrel.yaml")
    assert done.code == 0, done.err
    version = version_of(text)
    assert f"activated version {version} ('Kestrel v2', from kestrel.yaml) by user:cli" in done.out
    assert f"it replaces version {STARTER_VERSION}" in done.out and "no version had been activated" in done.out
    assert "-name: Acme Analytics starter playbook\n+name: Kestrel v2" in done.out
    assert "1 line added, 1 removed" in done.out

    activation = playbooks.activation(store.engine)
    assert activation["version"] == version and activation["activated_by"] == "user:cli"
    assert playbooks.stored_source(store.engine, version) == "kestrel.yaml"
    assert playbooks.stored_source(store.engine, STARTER_VERSION) == "starter.yaml"  # kept for a rollback
    assert cli("playbook", "show").out == text
    assert cli("rescore", "--json").json()["playbook_version"] == version

    again = cli("playbook", "activate", "kestrel.yaml", "--by", "sam")
    assert again.code == 0 and "is already the active version (activated by user:cli" in again.out
    assert "nothing changed" in again.out
    assert playbooks.activation(store.engine)["activated_by"] == "user:cli"


def test_activate_json_has_the_apis_fields_the_summary_and_the_diff(cli, store, tmp_path):
    first = playbooks.activate(store, edited("First"), "token:4")
    text = edited("Second", description="Changed")
    write(tmp_path, "second.yaml", text)
    result = cli("playbook", "activate", "second.yaml", "--by", "sam", "--json").json()
    assert result["activated"] is True and result["version"] == version_of(text) and result["name"] == "Second"
    assert result["source"] == "second.yaml" and result["activated_by"] == "user:sam" and result["activated_at"]
    assert result["text"] == text
    assert result["previous"] == {"version": first, "name": "First", "source": "playbook.yaml",
                                  "activated_by": "token:4"}
    assert result["fit_rules"] > 0 and result["engagement_rules"] > 0 and "mql" in result["stage_entries"]
    assert result["added"] == 2 and result["removed"] == 3  # the old description took two lines
    assert "+name: Second" in result["diff"] and "-name: First" in result["diff"]
    assert result["revoked_tokens"] == []
    assert playbooks.activation(store.engine)["activated_by"] == "user:sam"


def test_an_invalid_playbook_is_refused_with_file_and_line_and_nothing_is_stored(cli, store, tmp_path):
    active = playbooks.activate(store, edited("Active"), "token:3")
    before = stored_versions(store)
    write(tmp_path, "broken.yaml", edited("Broken").replace("name: Broken", "nmae: Broken"))
    refused = cli("playbook", "activate", "broken.yaml")
    assert refused.code == 1 and refused.out == ""
    assert "error: broken.yaml:1: unknown key 'nmae'" in refused.err
    assert "error: broken.yaml:1: missing required key 'name'" in refused.err

    as_json = cli("playbook", "activate", "broken.yaml", "--json")
    assert as_json.code == 1
    assert as_json.json()["activated"] is False and "broken.yaml:1: unknown key 'nmae'" in as_json.json()["issues"]

    missing = cli("playbook", "activate", "nosuch.yaml")
    assert missing.code == 1 and "nosuch.yaml: cannot read" in missing.err
    assert cli("playbook", "activate", str(tmp_path)).code == 1  # a directory is not a playbook either

    assert playbooks.activation(store.engine)["version"] == active and stored_versions(store) == before


def test_a_version_activated_meanwhile_is_not_overwritten(cli, store, tmp_path, monkeypatch):
    """Someone activates another version between the command reading the active one and activating: the command
    refuses (its diff would be against the wrong version) and the other activation stands."""
    real = playbooks.activate
    meanwhile = edited("Meanwhile")

    def racing(app, text, actor, **options):
        real(store, meanwhile, "token:9")
        return real(app, text, actor, **options)

    monkeypatch.setattr(playbooks, "activate", racing)
    write(tmp_path, "mine.yaml", edited("Mine"))
    refused = cli("playbook", "activate", "mine.yaml")
    assert refused.code == 1 and refused.out == ""
    assert f"version {version_of(meanwhile)} was activated meanwhile (by token:9): nothing changed" in refused.err
    assert playbooks.active_version(store.engine) == version_of(meanwhile)
    assert version_of(edited("Mine")) not in stored_versions(store)


def test_bad_usage_changes_nothing(cli, store, tmp_path):
    write(tmp_path, "ok.yaml", edited("Ok"))
    assert cli("playbook", "activate").code == 2
    assert cli("playbook", "activate", "ok.yaml", "--by", " ").code == 2
    assert cli("playbook", "activate", "ok.yaml", "--by", "x" * 200).code == 2
    assert playbooks.activation(store.engine) is None


def test_a_rep_left_out_of_the_activated_file_loses_their_token_for_good(cli, store, tmp_path):
    token = cli("tokens", "create", "--role", "rep", "--rep", "chloe", "--json").json()["token"]["id"]
    data = yaml.safe_load(starter_text())
    data["reps"] = [rep for rep in data["reps"] if rep["id"] != "chloe"]
    write(tmp_path, "without_chloe.yaml", yaml.safe_dump(data, sort_keys=False))
    done = cli("playbook", "activate", "without_chloe.yaml")
    assert done.code == 0 and f"revoked for good: token {token}" in done.out
    write(tmp_path, "starter.yaml", starter_text())
    assert cli("playbook", "activate", "starter.yaml", "--json").json()["revoked_tokens"] == []  # a rollback
    listed = cli("tokens", "list", "--revoked", "--json").json()
    assert next(t for t in listed if t["id"] == token)["revoked_at"]  # it stays revoked


def test_activating_the_file_that_runs_here_stores_it_as_the_active_version(cli, store, tmp_path):
    write(tmp_path, "playbook.yaml", starter_text())
    done = cli("playbook", "activate", "playbook.yaml")
    assert done.code == 0 and "it is the playbook that was running here" in done.out
    assert playbooks.activation(store.engine)["version"] == STARTER_VERSION
    assert playbooks.stored_source(store.engine, STARTER_VERSION) == "playbook.yaml"


# --------------------------------------------------------------------------- playbook versions


def test_versions_lists_what_is_stored_newest_first_with_the_active_one_marked(cli, store, tmp_path):
    empty = cli("playbook", "versions")
    assert empty.code == 0 and "no playbook version is stored yet" in empty.out
    assert cli("playbook", "versions", "--json").json() == []

    write(tmp_path, "one.yaml", edited("One"))
    write(tmp_path, "two.yaml", edited("Two"))
    assert cli("playbook", "activate", "one.yaml").code == 0
    assert cli("playbook", "activate", "two.yaml", "--by", "sam").code == 0
    listed = cli("playbook", "versions", "--json").json()
    assert {row["version"]: (row["source"], row["active"]) for row in listed} == {
        STARTER_VERSION: ("starter.yaml", False), version_of(edited("One")): ("one.yaml", False),
        version_of(edited("Two")): ("two.yaml", True)}
    assert listed == playbooks.list_versions(store)  # what GET /api/playbook/versions answers
    table = cli("playbook", "versions")
    assert table.code == 0 and "two.yaml" in table.out and "active (by user:sam at" in table.out


# --------------------------------------------------------------------------- reps dropped with open leads


def without_reps(*dropped: str) -> str:
    data = yaml.safe_load(starter_text())
    data["reps"] = [rep for rep in data["reps"] if rep["id"] not in dropped]
    return yaml.safe_dump(data, sort_keys=False)


def test_activate_says_which_dropped_reps_still_own_open_leads(cli, store, tmp_path):
    from tests.api.conftest import add_lead

    for email, rep in (("c1@corp.example", "chloe"), ("c2@corp.example", "chloe"), ("a1@corp.example", "alice")):
        add_lead(store, email, owner=rep, hand_raise=True)
    write(tmp_path, "smaller.yaml", without_reps("chloe", "alice", "felix"))  # felix owns nothing: not named
    chloe = "rep chloe has 2 open leads: the worker hands them back to routing at its next sweep"
    alice = "rep alice has 1 open lead: the worker hands it back to routing at its next sweep"

    checked = cli("playbook", "check", "smaller.yaml", "--json")  # the file only: check never opens a store
    assert checked.code == 0 and "hand_back" not in checked.json(), checked.err
    write(tmp_path, "starter.yaml", starter_text())

    done = cli("playbook", "activate", "smaller.yaml")
    assert done.code == 0, done.err
    assert chloe in done.out and alice in done.out
    again = cli("playbook", "activate", "smaller.yaml", "--json").json()  # active already: not handed back yet
    assert again["activated"] is False
    assert again["hand_back"] == [{"rep": "alice", "open_leads": 1, "message": alice},
                                  {"rep": "chloe", "open_leads": 2, "message": chloe}]
    assert cli("playbook", "activate", "starter.yaml", "--json").json()["hand_back"] == []  # back: they own them
