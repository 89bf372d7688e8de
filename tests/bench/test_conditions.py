"""GPU precision per level and NNAPI warnings by Android version (issue 13, item 10)."""

from __future__ import annotations

from harness.bench.conditions import nnapi_warnings
from harness.bench.settings import BenchSettings
from harness.sweep.engine import is_fp16_level


def test_the_gpu_keeps_fp32_math_unless_the_level_is_fp16():
    fp32 = BenchSettings(delegate="gpu").runner_flags()
    fp16 = BenchSettings(delegate="gpu", gpu_precision_loss_allowed=True).runner_flags()
    assert "--gpu_precision_loss_allowed=false" in fp32 and "--gpu_precision_loss_allowed=true" in fp16
    assert not any("precision" in flag for flag in BenchSettings(delegate="cpu").runner_flags())
    asked = BenchSettings(delegate="gpu", runner_args=("--gpu_precision_loss_allowed=true",)).runner_flags()
    assert asked.count("--gpu_precision_loss_allowed=true") == 1  # the user's own flag wins
    assert is_fp16_level("fp16") and not is_fp16_level("fp32") and not is_fp16_level("int8")


def test_peak_memory_is_only_in_its_own_pass():
    settings = BenchSettings(peak_memory=True)
    assert "--report_peak_memory_footprint=true" not in settings.runner_flags()
    assert settings.memory_pass_flags()[-1] == "--report_peak_memory_footprint=true"


def test_nnapi_warnings_by_android_version():
    assert "deprecated from Android 15" in nnapi_warnings("nnapi", 35)[0]
    assert "/data/local/tmp" in nnapi_warnings("nnapi", 28)[0]
    assert nnapi_warnings("nnapi", 30) == () and nnapi_warnings("gpu", 35) == ()
