"""The README stays true to the code: every setting documented with its default, quickstart intact."""

import re
from pathlib import Path

import pytest

from leadrelay.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize("name,field", Settings.model_fields.items())
def test_every_setting_is_documented_with_its_default(name, field):
    row = re.search(rf"^\| `LEADRELAY_{name.upper()}` \| `([^`]*)` \|", README, re.MULTILINE)
    assert row, f"LEADRELAY_{name.upper()} is missing from the README's settings table"
    assert row.group(1) == str(field.default)


def test_the_quickstart_is_the_two_make_commands():
    quickstart = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    assert "make demo" in quickstart and "make test" in quickstart


def test_the_ci_entry_runs_make_test_under_ci():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "CI=true" in ci and "make test" in ci


def test_the_readmes_webhook_verification_snippet_accepts_our_signature_and_refuses_a_forgery():
    import time

    from leadrelay.delivery.webhook import generate_secret, headers_for

    snippet = README.split("A receiver verifies a message like this", 1)[1].split("```python", 1)[1].split("```")[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - the README's own example, run as a reader would
    secret, body = generate_secret(), b'{"type":"lead.assigned","data":{}}'
    headers = headers_for(secret, "msg_1", int(time.time()), body)
    assert namespace["verify"](secret, headers, body)
    assert not namespace["verify"](secret, headers, body.replace(b"assigned", b"accepted"))
    assert not namespace["verify"](generate_secret(), headers, body)
