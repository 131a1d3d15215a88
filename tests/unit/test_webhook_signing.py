"""Standard Webhooks signing: the spec's scheme, checked against the reference implementation's vector.

The vector is `test_sign_function` of standard-webhooks/libraries/python/tests/test_webhooks.py
(the reference Python library): secret, message id, timestamp and body in, exact header out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.delivery.webhook import (
    SecretError, decode_secret, encode_body, generate_secret, headers_for, sign, unix_seconds, verify,
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
