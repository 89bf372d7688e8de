"""Idle power baselines lent from one run to the next on the same device.

Within a run, a device's queue lends the idle baseline its first cell measured to the later cells
(harness.bench.session). A rerun a minute later would measure the same idle power again; so at the
end of a queue the baseline on loan is kept in the host's state directory, with the device's state
after the last cell, and the next run's queue on that device starts with it on loan. The same rules
then decide whether a cell may borrow it (the reuse window, the same idle settings, the device's
state unchanged), and compute_energy has the last word by the device's clock (not older than the
window, no reboot, same thermal status and charging). A baseline is only handed to the same device
(adb key, build fingerprint, model, kernel, profile) on the same host boot (its age is counted on
the host's monotonic clock). The energy record names where it came from: "cell ID of run RUN".
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, replace
from pathlib import Path

from harness import paths
from harness.bench.session import DeviceSession, LentBaseline
from harness.errors import SqueezebenchError
from harness.jsonfile import write_json_atomic
from harness.schemas import IDLE_BASELINE

IDENTITY_PROPS = ("ro.build.fingerprint", "ro.product.model", "ro.squeezebench.profile")


def lend_from_last_run(session: DeviceSession, key: str) -> None:
    """Put on loan in `session` the baseline the last run on this device kept, if it may be."""
    from harness.bench.energy import IdleBaseline, PowerConditions

    try:
        kept = IDLE_BASELINE.load(_path(key))
    except SqueezebenchError:
        return  # none kept, or unreadable: the first cell measures one
    if kept.get("identity") != _identity(session) or kept.get("host_boot_id") != _host_boot_id():
        return
    try:
        baseline = dict(kept["baseline"])
        baseline["conditions"] = PowerConditions(**baseline["conditions"])
        for name in ("normalisation", "rails"):
            baseline[name] = tuple(baseline[name])
        session.lent_baseline = LentBaseline(IdleBaseline(**baseline), float(kept["held_since_s"]),
                                             tuple(kept["settings_key"]))
        session.last_conditions = PowerConditions(**kept["last_conditions"])
    except (KeyError, TypeError, ValueError):
        session.lent_baseline = None  # written by another version: measure one


def keep_for_next_run(session: DeviceSession, key: str, run_id: str) -> None:
    """Keep the baseline on loan at the end of this run's queue (or forget any kept before)."""
    path = _path(key)
    lent, conditions = session.lent_baseline, session.last_conditions
    if lent is None or conditions is None:
        path.unlink(missing_ok=True)
        return
    baseline = lent.baseline
    if " of run " not in baseline.taken_in:
        baseline = replace(baseline, taken_in=f"{baseline.taken_in} of run {run_id}")
    write_json_atomic(path, {
        **IDLE_BASELINE.stamp(),
        "device": key,
        "identity": _identity(session),
        "host_boot_id": _host_boot_id(),
        "held_since_s": lent.held_since_s,
        "settings_key": list(lent.settings_key),
        "baseline": asdict(baseline),
        "last_conditions": asdict(conditions),
    })


def _path(key: str) -> Path:
    directory = paths.state_dir() / "idle-baselines"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _identity(session: DeviceSession) -> dict:
    props = session.passport.props
    return {**{name: props.get(name) for name in IDENTITY_PROPS}, "kernel": session.passport.kernel}


def _host_boot_id() -> str | None:
    """The host's monotonic clock, which dates a kept baseline, restarts with every boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
