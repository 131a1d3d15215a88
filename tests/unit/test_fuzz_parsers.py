"""A bounded fuzz of the two parsers that read what outsiders write: Segment messages and playbooks.

Whatever comes in, the Segment parser answers with an Activity or a Rejection (never an
exception: one bad message must not cost the batch), and the playbook loader with a
Playbook or InvalidPlaybook listing FILE:LINE issues (never another exception: a bad file
must be told, not crash the command). Inputs are built from the shapes the real ones have
(message fields with values of every JSON type; playbooks mutated from the starter), so the
search reaches past the first check. Derandomized and bounded, so CI runs the same cases.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadrelay.activity.segment import parse_message
from leadrelay.core.errors import InvalidPlaybook
from leadrelay.lead.activities import Activity, Rejection
from leadrelay.playbook.loader import Playbook, parse_playbook, starter_text

RECEIVED = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
FUZZ_PLAYBOOKS = settings(FUZZ, max_examples=60)  # each compiles a whole playbook

_text = st.one_of(st.text(max_size=40), st.sampled_from([
    "", " ", "\x00", "\udc00", "a" * 300, "2026-10-01T09:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01", "ann@acme.io",
    "mailto:ANN@acme.io", "ann@", "@acme.io", "ann@müller.de", "track", "identify", "page", "group", "alias",
    "screen", "Demo Requested", "1e309", "NaN"]))
_moments = st.one_of(  # mostly before the receipt (kept), now and then anywhere (1900 and 9999 are refused)
    *[st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 9, 30), timezones=st.just(UTC))] * 3,
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31),
                 timezones=st.sampled_from([UTC, None]))).map(lambda d: d.isoformat())
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
              st.floats(allow_nan=True, allow_infinity=True), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12)
_objects = st.dictionaries(st.sampled_from(["email", "title", "employees", "country", "company", "name", "domain",
                                           "path", "url", "plan", "consent"]), _json, max_size=5)


def _mostly(good):
    """Usually a value of the right kind, now and then anything."""
    return st.one_of(good, good, good, _json)


_FIELDS = ["type", "messageId", "timestamp", "originalTimestamp", "sentAt", "receivedAt", "userId", "anonymousId",
           "event", "name", "properties", "traits", "context", "groupId", "previousId", "integrations"]
_messages = st.one_of(
    _json,
    st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=10),
    st.fixed_dictionaries(  # nearly valid: the checks after the first ones are reached
        {"type": st.sampled_from(["track", "identify", "page", "group", "alias", "screen"]),
         "messageId": st.text(min_size=1, max_size=30), "userId": _mostly(st.text(min_size=1, max_size=30)),
         "timestamp": _mostly(_moments)},
        optional={"anonymousId": _mostly(st.text(min_size=1, max_size=30)), "event": _mostly(st.text(max_size=30)),
                  "name": _text, "traits": _mostly(_objects), "properties": _mostly(_objects),
                  "context": _mostly(st.fixed_dictionaries({}, optional={"traits": _objects, "groupId": _text,
                                                                         "campaign": _objects, "page": _objects})),
                  "sentAt": _mostly(_moments), "groupId": _mostly(_text), "previousId": _mostly(_text)}),
)


@FUZZ
@given(raw=_messages, live=st.booleans())
def test_any_message_is_an_activity_or_a_rejection_never_an_exception(raw, live):
    result = parse_message(raw, source="fuzz", received_at=RECEIVED, position="fuzz[0]", live=live)
    assert isinstance(result, (Activity, Rejection))
    if isinstance(result, Rejection):
        assert result.reason and result.position == "fuzz[0]"
    else:
        json.dumps(result.properties), json.dumps(result.traits)  # what is kept can be stored as JSON


_STARTER = yaml.safe_load(starter_text())


def _paths(node, prefix=()):
    """Every path into the starter's data: where a mutation may land."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


_PATHS = [p for p in _paths(_STARTER) if p]


@st.composite
def _mutated_playbooks(draw):
    """The starter with a few of its values replaced by anything (or a key dropped), dumped back to YAML."""
    data = yaml.safe_load(starter_text())
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_PATHS))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(_json)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the way there
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@FUZZ_PLAYBOOKS
@given(text=st.one_of(_mutated_playbooks(), st.text(max_size=200)))
def test_any_playbook_text_loads_or_is_refused_with_located_issues_never_an_exception(text):
    try:
        playbook = parse_playbook(text, "fuzz.yaml")
    except InvalidPlaybook as exc:
        assert exc.issues or exc.message
        assert all(issue.startswith("fuzz.yaml") for issue in exc.issues), exc.issues
        return
    assert isinstance(playbook, Playbook)


_with_escapes = st.recursive(  # strings with the characters storage refuses, and look-alikes of their escapes
    st.one_of(st.none(), st.integers(min_value=-2**70, max_value=2**70), st.text(max_size=12),
              st.sampled_from(["\x00", "a\x00b", "\udc00", "\ud800x", "\ud83d\ude80", "🚀", "\\u0000", "\\\\u0000",
                               "\\ud800", "Grüße"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(["\x00", "\udc00"])),
                                            inner, max_size=4)),
    max_leaves=12)


@FUZZ
@given(_with_escapes)
def test_the_fast_storable_check_never_passes_a_message_storage_would_refuse(message):
    """Issue 14: ingest skips the walk over a message's strings when orjson finds them storable; it may say
    "unsure" wrongly (the walk then decides), never "storable" wrongly."""
    from leadrelay.activity.segment import _storable
    from leadrelay.activity.service import _surely_storable

    if _surely_storable(message):
        assert _storable(message)


def test_the_fast_storable_check_passes_ordinary_messages_and_catches_each_refused_character():
    from leadrelay.activity.service import _surely_storable

    ordinary = {"type": "page", "messageId": "m-1", "properties": {"path": "/pricing", "title": "Preise – Grüße 🚀"},
                "context": {"userAgent": "Mozilla/5.0", "ip": "203.0.113.9", "page": {"search": "?a=\\u0000b"}}}
    assert _surely_storable({**ordinary, "context": {"ip": "203.0.113.9"}})
    for bad in ("\x00", "\udc00", "\ud800"):
        assert not _surely_storable({**ordinary, "event": f"Demo{bad}"})
        assert not _surely_storable({**ordinary, "traits": {f"k{bad}": 1}})
