"""X-Hub-Signature-256: HMAC-SHA256 of the raw bytes, strict about its format."""

from __future__ import annotations

import pytest

from adapters.whatsapp.signature import sign, signature_is_valid

SECRET = b"app-secret"
BODY = '{"text":"caf\\u00e9 \u2713 \U0001f44b"}'.encode()


def test_a_correct_signature_over_the_raw_bytes_is_valid() -> None:
    assert signature_is_valid(SECRET, BODY, sign(SECRET, BODY))
    assert signature_is_valid(
        SECRET, BODY, sign(SECRET, BODY).upper().replace("SHA256=", "sha256=")
    )


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + "0" * 40,
        sign(SECRET, BODY).removeprefix("sha256="),  # no prefix
        sign(SECRET, BODY)[:-1],  # too short
        sign(SECRET, BODY) + "0",  # too long
        "sha256=" + "z" * 64,  # not hex
        sign(b"other-secret", BODY),
        sign(SECRET, BODY + b" "),  # signed different bytes
        " " + sign(SECRET, BODY),
    ],
)
def test_missing_malformed_or_wrong_signatures_are_invalid(header: str | None) -> None:
    assert not signature_is_valid(SECRET, BODY, header)
