"""The estimator: hardware descriptions, memory that moves the right way, verdicts and a fix that fits."""

import pytest

from tools.train.estimate import estimate, memory_breakdown, model_shape
from tools.train.hardware import Hardware
from tools.train.plan import TrainingPlan


def _plan(**fields):
    return TrainingPlan(data_dir="/nonexistent/prepared", max_steps=100, **fields)


def test_hardware_is_parsed_from_words():
    gpu = Hardware.parse("2x RTX 4090 24 GB")
    assert (gpu.kind, gpu.device_count, gpu.memory_gb, gpu.bf16) == ("cuda", 2, 24, True)
    assert Hardware.parse("H100").memory_gb == 80
    assert Hardware.parse("1 x T4").bf16 is False
    cpu = Hardware.parse("CPU 16 GB")
    assert (cpu.kind, cpu.memory_gb) == ("cpu", 16)
    with pytest.raises(ValueError, match="say its memory"):
        Hardware.parse("Mystery GPU")


def test_detect_describes_this_machine():
    hw = Hardware.detect()
    assert hw.memory_gb > 0 and hw.device_count >= 1


def test_the_default_model_is_sized_without_converting_it():
    shape, notes = model_shape("default")
    assert 130e6 < shape.params < 140e6  # SmolLM2-135M
    assert notes == []


def test_memory_moves_the_way_the_published_figures_say():
    gpu = Hardware.parse("1x A100 80 GB")
    shape, _ = model_shape("Qwen/Qwen2.5-7B-Instruct")
    full = memory_breakdown(_plan(base_model="Qwen/Qwen2.5-7B-Instruct", method="full"), shape, gpu, 1024)
    lora = memory_breakdown(_plan(base_model="Qwen/Qwen2.5-7B-Instruct", method="lora"), shape, gpu, 1024)
    # Full fine-tuning: fp32 weights and two Adam moments, 12 of the 16 bytes/param (gradients, the other 4,
    # peak when the activations are gone); LoRA: a 16-bit frozen base.
    per_param_full = (full["weights"] + full["optimizer"]) * 2**30 / shape.params
    assert 11.9 < per_param_full < 12.1
    no_acts = memory_breakdown(_plan(base_model="Qwen/Qwen2.5-7B-Instruct", method="full", gradient_checkpointing=True,
                                     batch_size=1), shape, gpu, 128)
    assert no_acts["gradients"] * 2**30 / shape.params == pytest.approx(4)
    assert lora["weights"] == pytest.approx(full["weights"] / 2)
    assert lora["optimizer"] < full["optimizer"] / 50
    ckpt = memory_breakdown(_plan(base_model="Qwen/Qwen2.5-7B-Instruct", gradient_checkpointing=True), shape, gpu, 1024)
    assert ckpt["activations"] < lora["activations"] / 5


def test_small_plan_fits_and_the_same_plan_does_not_fit_a_tiny_machine():
    plan = _plan(base_model="default", max_length=512, batch_size=4)
    roomy = estimate(plan, "CPU 32 GB")
    assert roomy.verdict == "fits" and roomy.suggestion is None
    assert roomy.total_steps == 100 and roomy.duration_s > 0
    cramped = estimate(plan, f"CPU {roomy.peak_memory_gb * 0.9:.2f} GB")
    assert cramped.verdict == "won't fit"
    assert cramped.suggested_changes
    fixed = estimate(plan.model_copy(update=cramped.suggested_changes), f"CPU {roomy.peak_memory_gb * 0.9:.2f} GB")
    assert fixed.verdict == "fits"


def test_tight_is_between_fits_and_wont_fit():
    plan = _plan(base_model="default", max_length=256)
    peak = estimate(plan, "CPU 64 GB").peak_memory_gb
    assert estimate(plan, f"CPU {peak / 0.9:.3f} GB").verdict == "tight"


def test_full_fine_tuning_a_7b_model_on_a_4090_suggests_a_change_that_fits():
    plan = _plan(base_model="Qwen/Qwen2.5-7B-Instruct", method="full", max_length=2048, batch_size=4)
    est = estimate(plan, "1x RTX 4090 24 GB")
    assert est.verdict == "won't fit" and est.peak_memory_gb > 100
    assert est.suggested_changes["method"] in ("lora", "qlora")
    assert "To fit" in est.suggestion
    assert "won't fit" in est.summary()
