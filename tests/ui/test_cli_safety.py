"""`finetune-assistant ui` binds loopback by default and refuses public exposure without credentials."""

import pytest
from typer.testing import CliRunner

from ui.cli import app, exposure_error, parse_auth


@pytest.mark.parametrize("args", [["--host", "0.0.0.0"], ["--share"], ["--host", "192.0.2.5"]])
def test_public_exposure_without_credentials_refuses_to_start(args, monkeypatch):
    monkeypatch.delenv("FINETUNE_ASSISTANT_AUTH", raising=False)
    result = CliRunner().invoke(app, ["ui", *args])
    assert result.exit_code == 2
    assert "without credentials" in result.output and "FINETUNE_ASSISTANT_AUTH" in result.output
    assert "Traceback" not in result.output


def test_credentials_make_public_exposure_acceptable():
    assert exposure_error("0.0.0.0", False, ("ann", "s3cret")) is None
    assert exposure_error("127.0.0.1", False, None) is None
    assert exposure_error("0.0.0.0", False, None) is not None


def test_malformed_credentials_are_rejected_without_echoing_them(monkeypatch):
    monkeypatch.setenv("FINETUNE_ASSISTANT_AUTH", "just-a-password")
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "user:password" in result.output
    assert "just-a-password" not in result.output
    assert parse_auth("ann:pw") == ("ann", "pw")
