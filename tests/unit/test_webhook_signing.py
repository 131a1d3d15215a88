"""Standard Webhooks signing: the spec's scheme, checked against the reference implementation's vector
and against the official `standardwebhooks` library itself, as a receiver would run it.

The vector is `test_sign_function` of standard-webhooks/libraries/python/tests/test_webhooks.py
(the reference Python library): secret, message id, timestamp and body in, exact header out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from leadrelay.delivery.webhook import (
    SecretError,
    decode_secret,
    encode_body,
    generate_secret,
    headers_for,
    sign,
    signing_keys,
    unix_seconds,
    verify,
)

# From the reference implementation's tests.
REF_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REF_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
REF_TIMESTAMP = 1614265330
REF_PAYLOAD = '{"test": 2432232314}'
REF_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_reference_vector():
    assert sign(REF_SECRET, REF_MSG_ID, REF_TIMESTAMP, REF_PAYLOAD) == REF_SIGNATURE
    assert sign(decode_secret(REF_SECRET), REF_MSG_ID, REF_TIMESTAMP, REF_PAYLOAD.encode()) == REF_SIGNATURE


def test_the_signature_is_hmac_sha256_of_id_dot_timestamp_dot_body_with_the_decoded_secret():
    secret = generate_secret()
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    assert len(key) == 32
    body = encode_body({"type": "lead.assigned", "timestamp": "2026-10-01T09:00:00Z", "data": {"lead_id": 7}})
    expected = base64.b64encode(hmac.new(key, f"msg_x.1700000000.{body}".encode(), hashlib.sha256).digest()).decode()
    assert sign(secret, "msg_x", 1700000000, body) == "v1," + expected


def test_the_secret_prefix_is_optional_and_short_or_garbled_secrets_are_refused():
    assert decode_secret(REF_SECRET.removeprefix("whsec_")) == decode_secret(REF_SECRET)
    with pytest.raises(SecretError, match="24"):
        decode_secret("whsec_" + base64.b64encode(b"too short").decode())
    with pytest.raises(SecretError, match="base64"):
        decode_secret("whsec_not*base64!")


def test_the_body_is_minified_json_and_non_ascii_survives():
    assert encode_body({"a": 1, "b": ["é", None]}) == '{"a":1,"b":["é",null]}'


def test_headers_carry_id_integer_timestamp_and_signature():
    now = datetime(2026, 10, 1, 9, 0, 30, 999_000, tzinfo=UTC)
    headers = headers_for(REF_SECRET, "msg_abc", unix_seconds(now), "{}")
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == str(int(now.timestamp())) == "1790845230"
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"


def test_a_receiver_verifies_and_rejects_tampering_old_timestamps_and_other_secrets():
    now = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    body = '{"type":"test.ping"}'
    headers = headers_for(REF_SECRET, "msg_abc", unix_seconds(now), body)
    assert verify(REF_SECRET, headers, body, now)
    assert verify(REF_SECRET, headers, body.encode(), now + timedelta(minutes=4))
    assert not verify(REF_SECRET, headers, body + " ", now)
    assert not verify(generate_secret(), headers, body, now)
    assert not verify(REF_SECRET, headers, body, now + timedelta(minutes=6))
    assert not verify(REF_SECRET, {**headers, "webhook-id": "msg_other"}, body, now)
    # Several space-delimited signatures (secret rotation): one match is enough.
    rotated = {**headers, "webhook-signature": "v1,AAAA v1a,BBBB " + headers["webhook-signature"]}
    assert verify(REF_SECRET, rotated, body, now)


def test_ids_with_dots_cannot_be_signed():
    with pytest.raises(ValueError):
        sign(REF_SECRET, "msg.1", 1, "{}")


def test_the_official_library_signs_the_reference_vector_as_we_do():
    moment = datetime.fromtimestamp(REF_TIMESTAMP, UTC)
    assert Webhook(REF_SECRET).sign(REF_MSG_ID, moment, REF_PAYLOAD) == sign(REF_SECRET, REF_MSG_ID, REF_TIMESTAMP,
                                                                             REF_PAYLOAD)


def test_the_official_library_verifies_a_message_signed_with_one_secret():
    secret, body = generate_secret(), encode_body({"type": "lead.assigned", "data": {"lead": {"email": "é@x.io"}}})
    headers = headers_for(secret, "msg_1", unix_seconds(datetime.now(UTC)), body)
    assert Webhook(secret).verify(body.encode(), headers) == {"type": "lead.assigned",
                                                              "data": {"lead": {"email": "é@x.io"}}}
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body.encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.encode() + b" ", headers)


def test_while_rotating_each_secret_signs_and_a_receiver_with_either_one_verifies():
    new, old = generate_secret(), generate_secret()
    body = '{"type":"test.ping"}'
    stamp = unix_seconds(datetime.now(UTC))
    headers = headers_for([decode_secret(new), decode_secret(old)], "msg_1", stamp, body)
    assert headers["webhook-signature"] == f"{sign(new, 'msg_1', stamp, body)} {sign(old, 'msg_1', stamp, body)}"
    assert Webhook(new).verify(body, headers) == Webhook(old).verify(body, headers) == {"type": "test.ping"}
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)
    # The same secret in both variables signs once.
    assert headers_for([new, new], "msg_1", stamp, body)["webhook-signature"] == sign(new, "msg_1", stamp, body)
    with pytest.raises(ValueError):
        headers_for([], "msg_1", stamp, body)


def test_signing_keys_name_the_variable_that_is_unset_or_garbled_and_never_its_value():
    new, old = generate_secret(), generate_secret()
    assert signing_keys([("NEW", new), ("OLD", old)], "crm") == (decode_secret(new), decode_secret(old))
    with pytest.raises(SecretError) as unset:
        signing_keys([("NEW", None)], "crm")
    assert str(unset.value) == "environment variable NEW (secret of webhook 'crm') is not set"
    with pytest.raises(SecretError) as half_done:
        signing_keys([("NEW", new), ("OLD", None)], "crm")
    assert str(half_done.value) == "environment variable OLD (previous secret of webhook 'crm') is not set"
    short = "whsec_" + base64.b64encode(b"sixteen byte key").decode()
    with pytest.raises(SecretError) as garbled:
        signing_keys([("NEW", new), ("OLD", short)], "crm")
    assert str(garbled.value) == "OLD: the webhook secret decodes to 16 bytes; Standard Webhooks wants 24 to 64"
    assert short.removeprefix("whsec_") not in str(garbled.value)
