"""The conditions of one benchmark besides its thermal state (`RunConditions`): the battery level
it ran at, whether the screen was on, the cores it was pinned to as the kernel applied the mask,
the GPU delegate's precision, and what the delegate is known to do on this Android version."""

from __future__ import annotations

from harness.bench.agent_result import AgentResult
from harness.bench.settings import BenchSettings
from harness.device.cpus import format_cpu_list, pinned_cpus
from harness.store.records import RunConditions

NNAPI_DEPRECATED_SDK = 35  # Android 15
NNAPI_TMP_MODELS_SDK = 28  # Android 9
NNAPI_FIRST_SDK = 27  # Android 8.1


def nnapi_warnings(delegate: str, sdk: int | None) -> tuple[str, ...]:
    """What is known of NNAPI on this Android version (`passport.build["sdk"]`)."""
    if delegate != "nnapi" or sdk is None:
        return ()
    if sdk >= NNAPI_DEPRECATED_SDK:
        return (f"NNAPI is deprecated from Android 15 (SDK {NNAPI_DEPRECATED_SDK}; this device: SDK {sdk}): vendors "
                "may ship it without accelerated drivers, so it can fall back to its slow CPU path; compare with "
                "the gpu and cpu delegates",)
    if sdk == NNAPI_TMP_MODELS_SDK:
        return ("on some Android 9 (SDK 28) devices NNAPI fails to run models stored in /data/local/tmp (the NN HAL "
                "may not read files there): a failure here can be that, not the model",)
    if sdk < NNAPI_FIRST_SDK:
        return (f"NNAPI exists from Android 8.1 (SDK {NNAPI_FIRST_SDK}); this device has SDK {sdk}",)
    return ()


def run_conditions(result: AgentResult, settings: BenchSettings, sdk: int | None) -> RunConditions:
    before, after = result.before, result.after
    effective = format_cpu_list(pinned_cpus(settings.taskset, result.runner.cpus_online or "")) if settings.taskset else None
    return RunConditions(
        battery_level_pct_before=before.battery.capacity_pct,
        battery_level_pct_after=after.battery.capacity_pct,
        wakefulness_before=before.wakefulness,
        wakefulness_after=after.wakefulness,
        taskset_mask=settings.taskset,
        effective_cpus=effective,
        gpu_precision_loss_allowed=settings.gpu_precision_loss_allowed if settings.delegate == "gpu" else None,
        warnings=nnapi_warnings(settings.delegate, sdk),
    )
