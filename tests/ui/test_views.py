"""The UI's formatting of tool results (pure functions, no browser)."""

from tools.evaluate.checks import Contains, SuccessCriteria
from ui import views


def test_data_report_names_layout_counts_pii_and_truncation():
    report = {
        "source": "/x/chats.jsonl", "format": "sharegpt", "dataset_type": "conversational", "rows": 10,
        "valid_rows": 8, "usable_rows": 7, "error_count": 2, "exact_duplicates": 1, "near_duplicates": 0,
        "pii": {"EMAIL": 3, "IP": 0}, "tokens": {"p50": 10, "p95": 20, "max": 30, "total": 70, "truncated_fraction": 0.25},
        "train_rows": 6, "validation_rows": 1,
        "errors": [{"row": 4, "field": "messages[1].role", "message": "unknown role 'bot'"}],
    }
    text = views.data_report(report)
    assert "chats.jsonl" in text and "`sharegpt`" in text and "conversational" in text
    assert "3 EMAIL" in text and "IP" not in text.split("PII redacted:")[1].split("\n")[0]
    assert "25.0% would be truncated" in text
    assert "6 train / 1 validation" in text
    assert views.error_rows(report) == [[4, "messages[1].role", "unknown role 'bot'"]]
    assert views.pii_rows(report) == [["EMAIL", 3]]


def test_loss_points_split_train_and_eval():
    metrics = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "eval_loss": 1.8}, {"epoch": 1.0}]
    assert views.loss_points(metrics) == [
        {"step": 1, "loss": 2.0, "split": "train"},
        {"step": 2, "loss": 1.5, "split": "train"},
        {"step": 2, "loss": 1.8, "split": "eval"},
    ]


def test_progress_shows_step_eta_and_queue():
    html = views.progress_html({"status": "running", "progress": 0.5, "step": 5, "total_steps": 10, "eta_s": 75, "loss": 1.234})
    assert "step 5/10" in html and "ETA 1 min" in html and "loss 1.234" in html
    assert "2 run(s) ahead" in views.progress_html({"status": "queued"}, queue_position=2)


def test_plan_card_shows_the_plans_success_checks():
    checks = SuccessCriteria(checks=[Contains(phrases=["Ada", "Lumen"])], target=0.9).model_dump(mode="json")
    card = views.plan_card({"plan_card_markdown": "## Plan", "plan": {"checks": checks}, "awaiting_approval": True})
    assert "**Success checks** (target: 90%" in card and "'Ada' and 'Lumen'" in card
    assert card.endswith("**Waiting for your approval.**")
