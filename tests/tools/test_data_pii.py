"""PII redaction: each kind becomes its typed placeholder, checksums keep look-alike numbers."""

import pytest

from tools.data import DataSpec, inspect_data
from tools.data.pii import Redactor, iban_ok, luhn_ok

SAMPLES = __import__("pathlib").Path(__file__).parent / "data_samples"


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("write to jane.roe@example.org today", "write to [EMAIL] today", "EMAIL"),
        ("call +1 (415) 555-0132 now", "call [PHONE] now", "PHONE"),
        ("or 020 7946 0958 after six", "or [PHONE] after six", "PHONE"),
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok", "CARD"),
        ("card 5500-0000-0000-0004.", "card [CARD].", "CARD"),
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN [IBAN] please", "IBAN"),
        ("iban DE89370400440532013000.", "iban [IBAN].", "IBAN"),
        ("host 192.168.10.25 is up", "host [IP] is up", "IP"),
        ("v6 2001:db8::8a2e:370:7334 is up", "v6 [IP] is up", "IP"),
        ("key sk-proj-abcdefghijklmnopqrstuvwx123456 here", "key [API_KEY] here", "API_KEY"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "aws [API_KEY] here", "API_KEY"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [API_KEY]", "API_KEY"),
        ("password: Tr0ub4dor&3xyz", "password: [SECRET]", "SECRET"),
        ("API_KEY=abcd1234efgh5678", "API_KEY=[SECRET]", "SECRET"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "jwt [SECRET]", "SECRET"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----!", "[PRIVATE_KEY]!", "PRIVATE_KEY"),
        ("SSN 123-45-6789.", "SSN [SSN].", "SSN"),
    ],
)
def test_each_kind_is_replaced_by_its_placeholder_and_counted(text, expected, kind):
    redactor = Redactor()
    assert redactor([text]) == [expected]
    assert redactor.counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "On 2024-01-15 we sold 3 items for $12.50.",
        "Order 12345678 shipped; version 1.2.3 and build 4.5.",
        "card 4111 1111 1111 1112 fails the Luhn check",
        "GB82 WEST 1234 5698 7654 33 fails the IBAN checksum",
        "SSN-like 000-12-3456 and 666-12-3456 are never issued",
        "999.1.1.1 is not an address; std::vector and 10:30:00 neither",
        "The token budget is 2048 and the password field is required.",
        "Email me @ the office.",
    ],
)
def test_look_alikes_are_left_alone(text):
    redactor = Redactor()
    assert redactor([text]) == [text]
    assert not redactor.counts


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")


def test_strings_keep_their_boundaries_and_non_ascii_positions():
    redactor = Redactor()
    out = redactor(["héllo İstanbul x@y.io", "", "Ünïcode +44 20 7946 0958", "a\x00b"])
    assert out == ["héllo İstanbul [EMAIL]", "", "Ünïcode [PHONE]", "ab"]


def test_dataset_counts_every_kind_and_redaction_can_be_switched_off(tiny_model_dir):
    report = inspect_data(SAMPLES / "pii.jsonl", DataSpec(model=str(tiny_model_dir)))
    assert report.pii == {"EMAIL": 1, "PHONE": 1, "CARD": 1, "IBAN": 1, "IP": 2, "API_KEY": 1, "SECRET": 1,
                          "PRIVATE_KEY": 1, "SSN": 1}  # fmt: skip
    assert report.samples[0]["completion"] == "Email [EMAIL] or call [PHONE]."
    raw = inspect_data(SAMPLES / "pii.jsonl", DataSpec(model=str(tiny_model_dir), pii_redaction=False))
    assert set(raw.pii.values()) == {0} and "jane.roe@example.org" in raw.samples[0]["completion"]
