"""Run a squeezebench command with timers wrapped around the harness functions on its path, and
write where the wall time went to a JSON file (used by orchestration.py and scaling.py).

    python benchmarks/_sweep_probe.py OUT.json run MODEL ... (any squeezebench arguments)

Nothing in harness/ is changed: module attributes are replaced by timing wrappers before the
command starts. Time is charged to the outermost wrapped call active in a thread (a sha256sum
inside a push counts as push), so categories never overlap within a thread. The main thread's
wait for the device workers (`main: device queues`) is split by the workers' categories
(`worker: ...`); with several devices the workers' times add up to more than the wait.
"""

from __future__ import annotations

import json
import sys
import threading
import time

PROCESS_START = time.perf_counter()

from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_totals: dict[str, list[float]] = {}
_depth = threading.local()
_totals_lock = threading.Lock()


def timed(category: str, function):
    def wrapper(*args, **kwargs):
        outermost = getattr(_depth, "level", 0) == 0
        _depth.level = getattr(_depth, "level", 0) + 1
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _depth.level -= 1
            if outermost:
                thread = "main" if threading.current_thread() is threading.main_thread() else "worker"
                with _totals_lock:
                    _totals.setdefault(f"{thread}: {category}", []).append(time.perf_counter() - started)

    wrapper.__wrapped__ = function
    return wrapper


def wrap(owner, name: str, category: str) -> None:
    setattr(owner, name, timed(category, getattr(owner, name)))


def wrap_context(owner, name: str, category: str) -> None:
    """For methods returning a context manager: the time is spent entering it (waiting for a lock)."""
    factory = getattr(owner, name)

    class Timed:
        def __init__(self, manager):
            self.manager = manager

        def __enter__(self):
            return timed(category, self.manager.__enter__)()

        def __exit__(self, *exc):
            return self.manager.__exit__(*exc)

    setattr(owner, name, lambda *args, **kwargs: Timed(factory(*args, **kwargs)))


def instrument() -> None:
    from harness.bench import benchmark, session
    from harness.cli import run as run_cli
    from harness.device import charging
    from harness.device import adb, discovery
    from harness.device.connection import Device
    from harness.sweep import engine
    from harness.store import run as run_store

    wrap(adb, "ensure_server", "adb server check")
    wrap(discovery, "select_devices", "device discovery")
    wrap(engine, "open_session", "passport + session")
    wrap(engine, "_convert_models", "conversion (cache lookups)")
    wrap(engine, "_execute", "device queues")
    wrap_context(engine.DeviceWorker, "device_held", "device lock")
    wrap_context(engine.DeviceWorker, "host_cpu_held", "host-CPU lock")
    wrap(session.DeviceSession, "ensure_files", "push (incl. digest checks)")
    wrap(session.DeviceSession, "prepare_device", "reap orphans + keep the screen on")
    wrap(charging, "suspend_charging", "suspend charging + settle")
    wrap(session.DeviceSession, "restore_held", "restore charging and screen")
    wrap(benchmark, "_measured", "parse + statistics")
    wrap(benchmark, "write_json_atomic", "write bench.json")
    wrap(Device, "pull_dir", "pull cell dir")
    wrap(Device, "shell_script", "other adb shell round trips")
    wrap(run_store.RunStore, "_save_locked", "run.json rewrites")
    wrap(run_cli, "write_run_report", "report (tables, plots, HTML)")
    from harness.virtual import fleet
    wrap(fleet, "start", "start virtual device")
    from harness.sweep import own_virtual
    wrap(own_virtual, "stop", "stop virtual device")
    from harness.report import load, summary
    wrap(load, "result_set", "load results for the summary")
    wrap(summary, "summary_text", "summary table")
    from harness.bench import output_pass, outputs
    wrap(output_pass.CheckData, "host_side", "output check: host side (model read, samples, outputs)")
    wrap(outputs, "write_value_files", "output check: value files written")
    _wrap_agent(Device)


def _wrap_agent(Device) -> None:
    """The agent's shell call is a Device.shell inside _run_and_measure, the output check's runner one
    inside output_pass: time them by argv."""
    original = Device.shell

    def shell(self, argv, **kwargs):
        if argv and argv[0] == "sh" and str(argv[1]).endswith("/agent.sh"):
            return timed("agent (on-device, see agent phases)", original)(self, argv, **kwargs)
        if any(str(arg).startswith("--output_filepath=") for arg in argv):
            return timed("output check: runner on the device", original)(self, argv, **kwargs)
        return original(self, argv, **kwargs)

    Device.shell = shell


def main() -> int:
    out = Path(sys.argv[1])
    imports_started = time.perf_counter()
    from harness import cli

    instrument()
    imports_s = time.perf_counter() - imports_started
    started = time.perf_counter()
    code = cli.main(sys.argv[2:])
    main_s = time.perf_counter() - started
    out.write_text(json.dumps({
        "exit_code": code,
        "probe_to_main_s": imports_started - PROCESS_START,
        "harness_import_s": imports_s,
        "main_s": main_s,
        "categories": {name: {"total_s": sum(v), "calls": len(v)} for name, v in sorted(_totals.items())},
    }, indent=2))
    return code


if __name__ == "__main__":
    sys.exit(main())
