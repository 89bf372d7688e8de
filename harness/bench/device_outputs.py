"""Outputs a device computed in an output check, kept for the next check of the same thing
(cache_dir()/device-outputs/<key>.npz, harness/bench/outputs_cache.py).

What a device computes for given inputs is fixed by its software build, its SoC, the runner, the
model file, the flags that decide how the model computes, and the inputs: checking the same
again on the same build only repeats the answer. On the default sweep (17 cells) the checks'
runner processes were 7.3 s of its 15 s of overhead, every rerun. A check whose key is found
compares the stored outputs with the host exactly as fresh ones, and says where and when they
were computed (OutputCheckSummary.device_outputs_from); `--recheck-outputs` computes them again.

The key: FORMAT_VERSION; the device's build fingerprint, ABI, SoC, board and kernel; the runner's
kind and sha256 and the version it printed (the bundled runner's LiteRT, which is the device's,
not the file's); the model file's sha256; the samples' digest and count; the batch the device is
given; threads, delegate and the model's runner flags. Not the serial: two phones of one build
compute alike, and the check is of the build, not of one unit.

Only the CPU's outputs are kept (XNNPACK or LiteRT's builtin kernels): they are computed by code
inside the runner, which the key names. A GPU driver or the NNAPI runtime can be updated without
a new build fingerprint (Play system updates), so those checks always run on the device, as do
all checks on a device that gives no build fingerprint."""

from __future__ import annotations

from pathlib import Path

from harness.bench import outputs_cache
from harness.jsonfile import utc_now

# Bump when what is stored, or how the check's runner is run (outputs.CHECK_RUN_FLAGS), changes.
FORMAT_VERSION = 1
CACHE_SUBDIR = "device-outputs"
_RUNNER_ONLY_DELEGATES = ("cpu", "xnnpack-off")
_BUILD_PROPS = ("ro.build.fingerprint", "ro.soc.manufacturer", "ro.soc.model", "ro.board.platform", "ro.hardware")


def reusable(session, settings) -> bool:
    """Whether this benchmark's check outputs depend only on what the key names: a CPU check on a
    device that says which build it runs."""
    return settings.delegate in _RUNNER_ONLY_DELEGATES and bool(session.passport.props.get("ro.build.fingerprint"))


def entry_for(session, settings, host, model_sha256: str, runner_version: str | None) -> Path:
    """The entry of `host` (host_outputs.HostSide)'s check of this model on this session's device."""
    passport, runner = session.passport, session.runner
    build = [passport.props.get(name, "") for name in _BUILD_PROPS]
    return outputs_cache.entry_path(
        CACHE_SUBDIR, FORMAT_VERSION, *build, passport.abi, passport.kernel,
        runner.kind, runner.sha256, runner_version, model_sha256, host.samples_digest, len(host.inputs[0]),
        host.batch_size, settings.threads, settings.delegate, settings.model_flags(),
    )


def stored_outputs(entry: Path, host) -> tuple[list, dict] | None:
    """The device's outputs and where they were computed, when this check was made before."""
    stored = outputs_cache.read_entry(entry, host.io, len(host.inputs[0]))
    return stored if stored and isinstance(stored[1].get("computed_utc"), str) else None


def keep_outputs(entry: Path, device_outputs: list, session, cell_dir: Path) -> None:
    outputs_cache.write_entry(entry, device_outputs, {
        "computed_utc": utc_now(), "serial": session.passport.serial, "cell": str(cell_dir),
    })
