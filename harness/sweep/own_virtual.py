"""The virtual devices a run starts for itself, when no phone is attached: they belong to the run
(harness.virtual.ownership), are recorded in run.json (`virtual_devices`), taken back by
`--resume` and stopped at the end of the run."""

from __future__ import annotations

from pathlib import Path

from harness.errors import DeviceError, SqueezebenchError
from harness.store.run import RunStore
from harness.sweep.progress import Reporter
from harness.sweep.spec import SweepSpec


def start(store: RunStore, spec: SweepSpec, server, reporter: Reporter) -> list:
    """One virtual device for the run, recorded in run.json."""
    from harness.virtual import fleet

    started = fleet.start(1, spec.virtual_profile, adb_server=server, owner=_run_owner(store))
    _announce_virtual(started, "no phone is attached: started", reporter)
    store.set("virtual_devices", [
        {"serial": d.serial, "port": d.port, "profile": d.profile, "state_dir": str(d.state_dir)} for d in started
    ])
    return started


def _run_owner(store: RunStore):
    from harness.virtual.ownership import Owner

    return Owner.this_process(store.run_id, store.root)


def _recorded(store: RunStore, spec: SweepSpec) -> list[dict]:
    """The virtual devices the run started for itself (runs recorded before `virtual_devices`
    existed kept their ports only: their profile is the spec's)."""
    recorded = store.document.get("virtual_devices")
    if recorded is not None:
        return recorded
    return [{"port": port, "profile": spec.virtual_profile} for port in store.document.get("virtual_auto_started") or ()]


def take_back(store: RunStore, spec: SweepSpec, server, reporter: Reporter) -> list:
    """The resumed run's own virtual devices: each one still running and healthy is adopted,
    any other replaced on its port (so the device keeps its key and its /data, where the files
    already pushed are checked, not sent again)."""
    from harness.virtual import fleet

    running = {d.port: d for d in fleet.list_running()}
    owner = _run_owner(store)
    devices = []
    for record in _recorded(store, spec):
        device = running.get(int(record["port"]))
        if device is not None:
            _check_is_the_runs(device, store)
            if _answers(device, server):
                fleet.adopt(device, owner)
                _announce_virtual([device], "resuming: reusing the run's", reporter)
                devices.append(device)
                continue
            reporter.message(f"resuming: the run's virtual device {device.serial} does not answer; replacing it")
            fleet.stop(device)
        replacement = fleet.start(1, record["profile"], adb_server=server, port=int(record["port"]), owner=owner)
        _announce_virtual(replacement, "resuming: started", reporter)
        devices += replacement
    return devices


def _check_is_the_runs(device, store: RunStore) -> None:
    from harness.virtual import fleet

    owner = fleet.owner_of(device)
    if owner is None or Path(owner.run_dir).resolve() != store.root.resolve():
        whose = f"run {owner.run_id}" if owner else "nobody (started by hand)"
        raise DeviceError(
            f"port {device.port} of this run's virtual device is now held by {device.serial}, which belongs to {whose}",
            f"stop it ('squeezebench virtual stop {device.serial}') and resume again",
            serial=device.serial,
        )


def _answers(device, server) -> bool:
    """Registered with the run's adb server and its shell answers."""
    from harness.device.connection import Device

    if device.adb_server != server:
        return False
    try:
        return Device(server, device.serial).shell(["true"], timeout_s=10, check=False).ok
    except SqueezebenchError:
        return False


def _announce_virtual(devices, what: str, reporter: Reporter) -> None:
    for device in devices:
        reporter.message(
            f"{what} virtual device {device.serial} "
            f"(profile {device.profile}; a simulator: results are marked virtual)"
        )


def stop(devices, reporter: Reporter) -> None:
    if not devices:
        return
    from harness.virtual import fleet

    for device in devices:
        try:
            fleet.stop(device)
        except Exception as e:  # noqa: BLE001 - stopping is best effort; the results are saved
            reporter.message(f"could not stop virtual device {device.serial}: {e}")
