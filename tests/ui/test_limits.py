"""In-process limits: one merge at a time (M7), the exposure check in launch() itself (L9), --no-token only on
loopback, and --auth-file so no password sits on a command line (L7)."""

import pytest
from typer.testing import CliRunner

from tools import paths
from tools.train import runs
from ui.app import launch
from ui.callbacks import Callbacks
from ui.cli import app, exposure_error, read_auth
from ui.services import AppConfig, Services


def test_a_second_merge_is_refused_while_one_runs():
    run_dir = paths.runs_dir() / "r1"
    (run_dir / "adapter").mkdir(parents=True)
    runs.upsert("r1", run_dir=str(run_dir), status="completed")
    services = Services(AppConfig(llm="rules"))
    cb = Callbacks(services)
    try:
        assert services.heavy.acquire(blocking=False)  # a merge in progress
        message, file = cb.run_action("merge", "r1")
        assert "Another merge is running" in message and file is None
    finally:
        services.heavy.release()
        services.close()


@pytest.mark.parametrize("kwargs", [{"host": "0.0.0.0"}, {"share": True}, {"host": "127.0.0.1", "share": True}])
def test_launch_itself_refuses_exposure_without_credentials(kwargs):
    with pytest.raises(ValueError, match="without credentials"):
        launch(**kwargs)


def test_no_token_is_for_loopback_only(monkeypatch):
    assert exposure_error("127.0.0.1", False, None, no_token=True) is None
    assert "loopback only" in exposure_error("0.0.0.0", False, ("a", "b"), no_token=True)
    with pytest.raises(ValueError, match="loopback only"):
        launch(host="0.0.0.0", auth=("a", "b"), token=None)
    monkeypatch.setenv("FINETUNE_ASSISTANT_AUTH", "ann:pw")
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--no-token"])
    assert result.exit_code == 2 and "loopback only" in result.output


def test_credentials_can_come_from_a_file(tmp_path):
    secret = tmp_path / "auth"
    secret.write_text("ann:s3cret\n")
    assert read_auth(None, secret) == {"ann": "s3cret"}
    secret.write_text("# the team\nann:s3cret\n\nbob:hunter2:x\n")  # one user a line; a password may hold ':'
    assert read_auth(None, secret) == {"ann": "s3cret", "bob": "hunter2:x"}
    assert read_auth("cy:pw", None) == {"cy": "pw"}
    with pytest.raises(ValueError, match="can't read --auth-file") as info:
        read_auth(None, tmp_path / "missing")
    assert "s3cret" not in str(info.value)
