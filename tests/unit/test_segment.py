import copy
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from leadrelay.activity.segment import (
    email_domain,
    iter_messages,
    normalise_email,
    parse_message,
)
from leadrelay.core.addresses import canonical_email
from leadrelay.lead.activities import Activity, Rejection

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def parse(raw, **overrides):
    options = {"source": "web", "received_at": NOW, "position": "line 1"} | overrides
    return parse_message(raw, **options)


def message(**fields):
    base = {"messageId": "m-1", "type": "track", "userId": "u-1", "event": "Signed Up"}
    return {key: value for key, value in (base | fields).items() if value is not ...}


def rejected(raw, reason, message_id="m-1", position="line 1"):
    return Rejection(position=position, reason=reason, message_id=message_id, raw=raw)


# --- normalise_email / email_domain -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ada@example.com", "ada@example.com"),
        ("  Ada.Lovelace+crm@Example.CO.UK \n", "ada.lovelace+crm@example.co.uk"),
        ("x@a.io", "x@a.io"),
    ],
)
def test_an_email_is_trimmed_and_lower_cased(value, expected):
    assert normalise_email(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        ["ada@example.com"],
        "",
        "   ",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@@example.com",
        "ada@bob@example.com",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        "ada@.example.com",
        "ada@example.com.",
        "ada@example..com",
        "ada@127.0.0.1",
        "ada@exa_mple.com",
        "Ada Lovelace <ada@example.com>",
        "ada@example.com, bob@example.com",
        "ada@xn--zz.example",
    ],
)
def test_anything_not_shaped_like_local_at_domain_dot_tld_is_not_an_email(value):
    assert normalise_email(value) is None


SAME_PERSON = [
    "josé@acme.io",
    "jos\u00e9@acme.io",  # NFC: é as one character
    "jose\u0301@acme.io",  # NFD: e and a combining acute accent
    "JOSÉ@ACME.IO",
    "  José@acme.io\n",
    "jo\u200bsé@acme.io",  # zero-width space
    "jo\u200dsé@acme.io",  # zero-width joiner
    "\ufeffjosé@acme.io",  # byte-order mark
    "josé@acme.io\u200e",  # left-to-right mark
    "mailto:josé@acme.io",
    "MailTo:José@acme.io",
    "<josé@acme.io>",
    " <mailto:josé@acme.io> ",
]


@pytest.mark.parametrize("value", SAME_PERSON)
def test_one_address_written_in_unicode_variants_has_one_canonical_form(value):
    assert normalise_email(value) == "jos\u00e9@acme.io"


@pytest.mark.parametrize("value", ["ann@müller.de", "ann@MÜLLER.de", "ann@xn--mller-kva.de", "Ann@XN--MLLER-KVA.DE",
                                   "ann@mu\u0308ller.de", "ann@müller\u3002de"])
def test_an_internationalised_domain_is_stored_in_its_ascii_idna_form(value):
    assert normalise_email(value) == "ann@xn--mller-kva.de"
    assert email_domain(value) == "xn--mller-kva.de"


def test_plus_addressing_and_dots_are_kept_as_written_since_they_may_be_another_mailbox():
    assert normalise_email("Ann+News@acme.io") == "ann+news@acme.io"
    assert normalise_email("a.n.n@acme.io") == "a.n.n@acme.io"
    assert normalise_email("Ann+News@acme.io") != normalise_email("ann@acme.io")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ann", "no @"),
        ("ann@@acme.io", "more than one @"),
        ("@acme.io", "nothing before the @"),
        ("ann@", "nothing after the @"),
        ("ann smith@acme.io", "whitespace, a control character or one of <>,; before the @"),
        ("ann@acme", "the domain has no dot"),
        ("ann@acme io.com", "the domain is not a host name"),
        ("a" * 65 + "@acme.io", "the part before the @ is longer than 64 characters"),
        ("ann@" + "d" * 250 + ".example", "the domain is longer than 253 characters"),
        ("a" * 64 + "@" + ("d" * 60 + ".") * 3 + "example", "longer than 254 characters"),
        ("ann@xn--zz.de", "the domain is not a valid internationalised (IDNA) name"),
        ("mailto:", "empty"),
    ],
)
def test_canonical_email_says_why_a_value_is_not_an_address(value, problem):
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}$"):
        canonical_email(value)


def test_the_email_domain_is_the_lower_case_part_after_the_at():
    assert email_domain(" Ada@Example.COM ") == "example.com"
    assert email_domain("ada@mail.example.co.uk") == "mail.example.co.uk"


@pytest.mark.parametrize("value", [None, "", "not-an-email", "ada@localhost"])
def test_there_is_no_email_domain_without_an_email(value):
    assert email_domain(value) is None


# --- accepted messages ----------------------------------------------------------------


def test_a_track_message_becomes_an_activity_named_after_its_event():
    raw = {
        "type": "track",
        "messageId": "022bb90c",
        "userId": "97980cfea0067",
        "anonymousId": "507f191e",
        "event": "Demo Requested",
        "properties": {"plan": "pro"},
        "context": {"ip": "8.8.8.8", "traits": {"email": " Ada@Example.COM ", "plan": "free"}},
        "traits": {"plan": "trial"},
    }

    assert parse(raw) == Activity(
        source="web",
        message_id="022bb90c",
        type="track",
        occurred_at=NOW,
        received_at=NOW,
        anonymous_id="507f191e",
        user_id="97980cfea0067",
        email="ada@example.com",
        name="Demo Requested",
        properties={"plan": "pro"},
        traits={"email": " Ada@Example.COM ", "plan": "trial"},
        context={"ip": "8.8.8.8", "traits": {"email": " Ada@Example.COM ", "plan": "free"}},
    )


def test_an_identify_message_merges_context_traits_under_its_own_traits():
    raw = {
        "type": "identify",
        "messageId": "m-2",
        "anonymousId": "anon-1",
        "traits": {"email": "ADA@EXAMPLE.COM", "title": "CTO"},
        "context": {"traits": {"email": "old@example.com", "company": "Acme"}},
    }

    assert parse(raw, source="crm") == Activity(
        source="crm",
        message_id="m-2",
        type="identify",
        occurred_at=NOW,
        received_at=NOW,
        anonymous_id="anon-1",
        email="ada@example.com",
        traits={"email": "ADA@EXAMPLE.COM", "title": "CTO", "company": "Acme"},
        context={"traits": {"email": "old@example.com", "company": "Acme"}},
    )


def test_an_email_that_is_not_an_address_rejects_the_message_naming_the_field_why_and_the_value():
    raw = message(type="identify", event=..., traits={"email": "not an email"})

    assert parse(raw) == rejected(raw, "traits.email: not an e-mail address (no @): 'not an email'")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"traits": {"email": "ann@acme"}}, "traits.email: not an e-mail address (the domain has no dot): 'ann@acme'"),
        ({"traits": {"email": "a@b@acme.io"}},
         "traits.email: not an e-mail address (more than one @): 'a@b@acme.io'"),
        ({"traits": {"email": 42}}, "traits.email: expected a string, got number"),
        ({"traits": {"email": ["ann@acme.io"]}}, "traits.email: expected a string, got list"),
        ({"context": {"traits": {"email": "ann at acme.io"}}},
         "context.traits.email: not an e-mail address (no @): 'ann at acme.io'"),
        ({"traits": {"email": "x" * 300}}, f"traits.email: not an e-mail address (no @): '{'x' * 40}...'"),
    ],
)
def test_an_invalid_email_in_a_message_rejects_it_naming_where_it_came_from(fields, reason):
    raw = message(type="identify", event=..., **fields)

    assert parse(raw) == rejected(raw, reason)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_null_or_blank_email_is_no_email_and_the_message_is_kept(value):
    activity = parse(message(type="identify", event=..., traits={"email": value}))

    assert isinstance(activity, Activity) and activity.email is None


def test_the_messages_own_traits_email_wins_even_over_an_invalid_one_in_its_context():
    raw = message(type="identify", event=..., traits={"email": "Ann@acme.io"}, context={"traits": {"email": "junk"}})

    assert parse(raw).email == "ann@acme.io"


def test_an_email_in_unicode_variants_gives_one_canonical_email_on_the_activity():
    emails = {parse(message(type="identify", event=..., traits={"email": value})).email for value in SAME_PERSON}

    assert emails == {"jos\u00e9@acme.io"}


def test_a_group_message_does_not_read_an_invalid_email_in_its_traits():
    raw = message(type="group", event=..., groupId="g-1", traits={"name": "Acme", "email": "billing at acme"})

    assert isinstance(parse(raw), Activity)


def test_a_page_message_fills_missing_page_properties_from_context_page():
    raw = {
        "type": "page",
        "messageId": "m-3",
        "anonymousId": "anon-1",
        "name": "Pricing",
        "properties": {"title": "Own title", "referrer": None},
        "context": {
            "page": {
                "path": "/pricing",
                "url": "https://acme.com/pricing?x=1",
                "title": "Pricing | Acme",
                "referrer": "https://google.com/",
                "search": "?x=1",
            }
        },
    }
    original = copy.deepcopy(raw)

    assert parse(raw) == Activity(
        source="web",
        message_id="m-3",
        type="page",
        occurred_at=NOW,
        received_at=NOW,
        anonymous_id="anon-1",
        name="Pricing",
        properties={
            "title": "Own title",
            "referrer": "https://google.com/",
            "path": "/pricing",
            "url": "https://acme.com/pricing?x=1",
            "search": "?x=1",
        },
        context=original["context"],
    )
    assert raw == original


def test_a_page_without_a_name_takes_it_from_properties_and_without_context_page_keeps_properties():
    raw = message(type="page", event=..., properties={"name": "Home", "path": "/"})

    activity = parse(raw)

    assert (activity.name, activity.properties) == ("Home", {"name": "Home", "path": "/"})


def test_a_page_with_neither_name_is_unnamed():
    assert parse(message(type="page", event=..., name="  ")).name is None


def test_a_screen_message_is_named_after_the_screen():
    raw = message(type="screen", event=..., name="Settings", properties={"tab": "billing"})

    assert parse(raw) == Activity(
        source="web",
        message_id="m-1",
        type="screen",
        occurred_at=NOW,
        received_at=NOW,
        user_id="u-1",
        name="Settings",
        properties={"tab": "billing"},
    )


def test_a_screen_without_a_name_takes_it_from_properties():
    raw = message(type="screen", event=..., properties={"name": "Inbox"})

    assert parse(raw).name == "Inbox"


def test_a_group_message_keeps_the_account_traits_and_never_takes_an_email_from_them():
    raw = {
        "type": "group",
        "messageId": "m-4",
        "userId": "u-1",
        "groupId": 4242,
        "traits": {"name": "Acme", "email": "billing@acme.com", "employees": 120},
        "context": {"traits": {"email": "ada@acme.com"}},
    }

    assert parse(raw) == Activity(
        source="web",
        message_id="m-4",
        type="group",
        occurred_at=NOW,
        received_at=NOW,
        user_id="u-1",
        group_id="4242",
        traits={"name": "Acme", "email": "billing@acme.com", "employees": 120},
        context={"traits": {"email": "ada@acme.com"}},
    )


def test_an_alias_message_records_the_previous_id():
    raw = {"type": "alias", "messageId": "m-5", "userId": "u-1", "previousId": "anon-9"}

    assert parse(raw) == Activity(
        source="web",
        message_id="m-5",
        type="alias",
        occurred_at=NOW,
        received_at=NOW,
        user_id="u-1",
        previous_id="anon-9",
    )


def test_numeric_ids_become_strings():
    raw = message(type="alias", event=..., userId=12, anonymousId=7.5, previousId=0)

    activity = parse(raw)

    assert (activity.user_id, activity.anonymous_id, activity.previous_id) == ("12", "7.5", "0")


def test_an_empty_id_counts_as_absent():
    activity = parse(message(userId="", anonymousId="anon-1"))

    assert (activity.user_id, activity.anonymous_id) == (None, "anon-1")


def test_the_endpoint_type_is_used_when_the_message_has_none():
    activity = parse(message(type=..., event="Clicked"), default_type="track")

    assert (activity.type, activity.name) == ("track", "Clicked")


def test_the_message_own_type_wins_over_the_endpoint_type():
    assert parse(message(type="identify"), default_type="track").type == "identify"


def test_null_optional_objects_count_as_absent():
    activity = parse(message(traits=None, properties=None, context=None))

    assert (activity.traits, activity.properties, activity.context) == ({}, {}, {})


# --- timestamps -----------------------------------------------------------------------


def test_without_timestamps_the_activity_occurred_when_it_was_received():
    activity = parse(message())

    assert (activity.occurred_at, activity.received_at) == (NOW, NOW)


def test_a_timestamp_alone_is_when_it_occurred_converted_to_utc():
    activity = parse(message(timestamp="2024-05-01T10:30:00+02:00"))

    assert activity.occurred_at == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert activity.occurred_at.tzinfo is UTC


def test_a_timestamp_without_a_zone_is_utc():
    activity = parse(message(timestamp="2024-05-01T08:30:00"))

    assert activity.occurred_at == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert activity.occurred_at.tzinfo is UTC


def test_lower_case_t_and_z_are_accepted():
    assert parse(message(timestamp="2024-05-01t08:30:00z")).occurred_at == datetime(
        2024, 5, 1, 8, 30, tzinfo=UTC
    )


def test_sent_at_corrects_the_client_clock_skew():
    # The device clock runs 10 minutes fast: it stamped the event at 12:05 and sent it
    # at 12:15 by its clock, and the server received it at 12:00 real time.
    raw = message(timestamp="2024-05-01T12:05:00Z", sentAt="2024-05-01T12:15:00Z")

    activity = parse(raw)

    assert activity.occurred_at == NOW - timedelta(minutes=10)
    assert activity.received_at == NOW


def test_original_timestamp_is_the_client_time_when_correcting_skew():
    raw = message(originalTimestamp="2024-05-01T12:05:00Z", sentAt="2024-05-01T12:15:00Z")

    assert parse(raw).occurred_at == NOW - timedelta(minutes=10)


def test_original_timestamp_alone_is_when_it_occurred():
    raw = message(originalTimestamp="2024-05-01T11:00:00Z")

    assert parse(raw).occurred_at == datetime(2024, 5, 1, 11, 0, tzinfo=UTC)


def test_sent_at_without_a_client_time_changes_nothing():
    assert parse(message(sentAt="2024-05-01T12:15:00Z")).occurred_at == NOW


def test_a_replayed_message_keeps_its_own_received_at_and_reproduces_segments_timestamp():
    raw = message(
        receivedAt="2015-12-10T04:08:31.909Z",
        sentAt="2015-12-10T04:08:31.581Z",
        originalTimestamp="2015-12-10T04:08:31.577Z",
        timestamp="2015-12-10T04:08:31.905Z",
    )

    activity = parse(raw)

    assert activity.received_at == datetime(2015, 12, 10, 4, 8, 31, 909000, tzinfo=UTC)
    assert activity.occurred_at == datetime(2015, 12, 10, 4, 8, 31, 905000, tzinfo=UTC)


def test_a_naive_received_at_argument_is_taken_as_utc():
    activity = parse(message(), received_at=datetime(2024, 5, 1, 12, 0))

    assert activity.received_at == NOW and activity.received_at.tzinfo is UTC


def test_a_received_at_argument_in_another_zone_is_converted_to_utc():
    paris = timezone(timedelta(hours=2))

    activity = parse(message(), received_at=datetime(2024, 5, 1, 14, 0, tzinfo=paris))

    assert activity.received_at == NOW and activity.received_at.tzinfo is UTC


# --- batch envelopes ------------------------------------------------------------------


def test_a_single_message_is_yielded_as_it_is():
    raw = message()

    assert list(iter_messages(raw, position="line 3")) == [("line 3", raw)]


def test_a_batch_yields_each_message_with_the_envelope_context_merged_under_its_own():
    first = message(messageId="a", context={"ip": "1.1.1.1", "library": {"version": "2"}})
    second = message(messageId="b", sentAt="2024-05-01T12:00:00Z")
    envelope = {
        "batch": [first, second],
        "context": {"ip": "9.9.9.9", "library": {"name": "analytics-python", "version": "1"}},
        "sentAt": "2024-05-01T12:15:00Z",
    }
    original = copy.deepcopy(envelope)

    assert list(iter_messages(envelope, position="line 3")) == [
        (
            "line 3 batch[0]",
            first
            | {
                "context": {
                    "ip": "1.1.1.1",
                    "library": {"name": "analytics-python", "version": "2"},
                },
                "sentAt": "2024-05-01T12:15:00Z",
            },
        ),
        (
            "line 3 batch[1]",
            second
            | {"context": {"ip": "9.9.9.9", "library": {"name": "analytics-python", "version": "1"}}},
        ),
    ]
    assert envelope == original


def test_a_batch_without_envelope_fields_yields_its_messages_untouched():
    first, second = message(messageId="a"), message(messageId="b")

    assert list(iter_messages({"batch": [first, second]}, position="")) == [
        ("batch[0]", first),
        ("batch[1]", second),
    ]


def test_the_envelope_sent_at_corrects_the_skew_of_each_message():
    envelope = {
        "batch": [message(timestamp="2024-05-01T12:05:00Z")],
        "sentAt": "2024-05-01T12:15:00Z",
    }

    [(position, raw)] = iter_messages(envelope, position="request")

    assert position == "request batch[0]"
    assert parse(raw).occurred_at == NOW - timedelta(minutes=10)


def test_envelope_context_traits_reach_each_message():
    envelope = {
        "batch": [message(type="identify", event=...)],
        "context": {"traits": {"email": "A@B.CO"}},
    }

    [(_, raw)] = iter_messages(envelope, position="line 1")

    assert parse(raw).email == "a@b.co"


def test_a_batch_that_is_not_a_list_is_yielded_whole_and_rejected():
    envelope = {"batch": {"messageId": "m-1"}}

    [(position, raw)] = iter_messages(envelope, position="line 4")

    assert (position, raw) == ("line 4", envelope)
    assert parse(raw, position=position) == rejected(
        envelope, "batch: expected a list", message_id=None, position="line 4"
    )


def test_an_envelope_context_that_is_not_an_object_rejects_the_whole_batch():
    envelope = {"batch": [message()], "context": "web"}

    [(position, raw)] = iter_messages(envelope, position="line 4")

    assert parse(raw, position=position) == rejected(
        envelope, "context: expected an object, got string", message_id=None, position="line 4"
    )


def test_a_message_context_that_is_not_an_object_is_rejected_after_the_envelope_is_applied():
    envelope = {"batch": [message(context=["x"])], "context": {"ip": "9.9.9.9"}}

    [(position, raw)] = iter_messages(envelope, position="line 4")

    assert parse(raw, position=position) == rejected(
        raw, "context: expected an object, got list", position="line 4 batch[0]"
    )


def test_a_batch_element_that_is_not_an_object_is_rejected_at_its_position():
    envelope = {"batch": [["m-1"]], "context": {"ip": "x"}}

    [(position, raw)] = iter_messages(envelope, position="line 5")

    assert parse(raw, position=position) == rejected(
        ["m-1"], "expected a JSON object, got list", message_id=None, position="line 5 batch[0]"
    )


def test_an_envelope_given_straight_to_parse_message_is_rejected():
    envelope = {"batch": [message()]}

    assert parse(envelope) == rejected(
        envelope, "batch: unexpected batch envelope", message_id=None
    )


# --- rejected messages ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ([], "expected a JSON object, got list"),
        ("track", "expected a JSON object, got string"),
        (None, "expected a JSON object, got null"),
        (3, "expected a JSON object, got number"),
        (message(messageId=...), "missing messageId"),
        (message(messageId=None), "missing messageId"),
        (message(messageId=123), "messageId: expected a string, got number"),
        (message(messageId=True), "messageId: expected a string, got boolean"),
        (message(messageId={"id": 1}), "messageId: expected a string, got object"),
        (message(messageId=""), "messageId: must not be blank"),
        (message(messageId="   "), "messageId: must not be blank"),
        (message(messageId="x" * 201), "messageId: longer than 200 characters"),
    ],
)
def test_a_message_without_a_usable_message_id_is_rejected(raw, reason):
    assert parse(raw) == rejected(raw, reason, message_id=None)


def test_a_message_id_of_exactly_200_characters_is_accepted():
    assert parse(message(messageId="x" * 200)).message_id == "x" * 200


TYPES = "identify, track, page, screen, group, alias"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (message(type=...), "missing type"),
        (message(type=7), "type: expected a string, got number"),
        (message(type="foo"), f"unknown type 'foo' (expected one of {TYPES})"),
        (message(type="Track"), f"unknown type 'Track' (expected one of {TYPES})"),
        (message(userId={"id": 1}), "userId: expected a string or number, got object"),
        (message(userId=True), "userId: expected a string or number, got boolean"),
        (message(anonymousId=["a"]), "anonymousId: expected a string or number, got list"),
        (message(userId=float("nan")), "userId: expected a finite number, got nan"),
        (message(type="identify", userId=...), "identify: needs userId, anonymousId or an email in traits"),
        (message(userId=""), "track: needs userId, anonymousId or an email in traits"),
        (message(type="page", userId=None, anonymousId="  "), "page: needs userId, anonymousId or an email in traits"),
        (message(type="screen", userId=...), "screen: needs userId, anonymousId or an email in traits"),
        (message(type="group", userId=..., groupId="g"), "group: needs userId, anonymousId or an email in traits"),
        (
            message(type="alias", userId=..., anonymousId="a", previousId="p"),
            "alias: missing userId",
        ),
        (message(type="alias"), "alias: missing previousId"),
        (message(type="alias", previousId=""), "alias: missing previousId"),
        (
            message(type="alias", previousId=False),
            "previousId: expected a string or number, got boolean",
        ),
        (message(event=...), "track: missing event"),
        (message(event=""), "track: missing event"),
        (message(event="  "), "track: missing event"),
        (message(event=None), "track: missing event"),
        (message(event=42), "event: expected a string, got number"),
        (message(type="group"), "group: missing groupId"),
        (message(type="group", groupId=""), "group: missing groupId"),
        (message(type="group", groupId=True), "groupId: expected a string or number, got boolean"),
        (message(traits=["a"]), "traits: expected an object, got list"),
        (message(properties="x"), "properties: expected an object, got string"),
        (message(context=[]), "context: expected an object, got list"),
        (message(context={"traits": "x"}), "context.traits: expected an object, got string"),
        (message(type="page", name=3), "name: expected a string, got number"),
        (message(type="screen", name=["a"]), "name: expected a string, got list"),
        (message(timestamp="yesterday"), "timestamp: not an ISO-8601 date: 'yesterday'"),
        (message(timestamp=""), "timestamp: not an ISO-8601 date: ''"),
        (message(timestamp=1714564800), "timestamp: expected an ISO-8601 string, got number"),
        (
            message(originalTimestamp="2024-13-01T00:00:00Z"),
            "originalTimestamp: not an ISO-8601 date: '2024-13-01T00:00:00Z'",
        ),
        (message(sentAt="soon"), "sentAt: not an ISO-8601 date: 'soon'"),
        (message(receivedAt={"t": 1}), "receivedAt: expected an ISO-8601 string, got object"),
        (
            message(timestamp="x" * 50),
            f"timestamp: not an ISO-8601 date: '{'x' * 40}...'",
        ),
        (
            message(timestamp="0001-01-01T00:00:00+01:00"),
            "timestamp: out of range in UTC: '0001-01-01T00:00:00+01:00'",
        ),
        (
            message(timestamp="9999-12-31T00:00:00Z", sentAt="0001-01-01T00:00:00Z"),
            "sentAt: clock-skew correction out of range",
        ),
    ],
)
def test_an_invalid_message_is_rejected_with_a_reason_naming_the_field(raw, reason):
    assert parse(raw, position="batch[3]") == rejected(raw, reason, position="batch[3]")


def test_an_unknown_endpoint_type_is_rejected_like_an_unknown_message_type():
    raw = message(type=...)

    assert parse(raw, default_type="bogus") == rejected(
        raw, f"unknown type 'bogus' (expected one of {TYPES})"
    )


def test_every_rejection_reason_is_one_line():
    raw = message(timestamp="2024-05-01\nT12:00")

    rejection = parse(raw)

    assert rejection == rejected(raw, "timestamp: not an ISO-8601 date: '2024-05-01\\nT12:00'")
    assert "\n" not in rejection.reason


def test_an_identify_with_only_an_email_in_traits_is_accepted():
    result = parse_message({"type": "identify", "messageId": "m1", "traits": {"email": "Ann@Acme.io"}},
                           source="s", received_at=datetime(2026, 1, 1, tzinfo=timezone.utc), position="p")
    assert isinstance(result, Activity)
    assert (result.user_id, result.anonymous_id, result.email) == (None, None, "ann@acme.io")
