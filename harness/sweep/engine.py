"""`squeezebench run`: convert, find devices, and work through every device's queue in parallel.

Each device has its own worker thread and queue. A cross-process lock per device is held for the
device's whole queue: no other squeezebench benchmarks on it meanwhile, so the worker can keep
charging suspended from the first cell to the last (settling the charger once) and lend the idle
power baseline it measured to later cells (`--idle-baseline-reuse`). Virtual devices on this
host share the host's CPUs, so by default their benchmarks take turns (a host-CPU lock, taken
per cell) rather than contaminate each other's latencies.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.bench.benchmark import run_benchmark
from harness.bench.session import open_session
from harness.bench.settings import BenchSettings
from harness.device import adb
from harness.device.lock import device_lock
from harness.errors import DeviceError, ExitCode, SqueezebenchError, UsageError
from harness.paths import results_dir
from harness.store.records import BenchResult, CellStatus
from harness.store.run import RunStore, create_run, find_run, safe_component, utc_now
from harness.sweep import idle_baselines, own_virtual
from harness.sweep.battery_floor import keep_above_floor
from harness.sweep.plan import conversion_summary, plan_cells
from harness.sweep.progress import Reporter
from harness.sweep.spec import SweepSpec, check_inputs

MAX_ATTEMPTS_PER_CELL = 2
RECOVER_POLL_S = 1.0


@dataclass
class SweepOutcome:
    store: RunStore
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.store.root

    @property
    def exit_code(self) -> ExitCode:
        done = sum(self.counts.values())
        ok = self.counts.get(CellStatus.OK, 0)
        if done == 0 or ok == 0:
            return ExitCode.NOTHING_RAN
        return ExitCode.OK if ok == done else ExitCode.PARTIAL


def run_sweep(
    spec: SweepSpec | None = None,
    *,
    results_root: Path | None = None,
    command_line: list[str] | None = None,
    resume: str | None = None,
    reporter: Reporter | None = None,
    while_settling: Callable[[], object] | None = None,
) -> SweepOutcome:
    """`while_settling`: host work for the wait after a device's charging is suspended (the CLI's
    report imports), done there instead of after the last cell."""
    reporter = reporter or Reporter(quiet=True)
    results_root = Path(results_root) if results_root else results_dir()
    if resume:
        store = find_run(results_root, resume)
        spec = SweepSpec.from_dict(store.document["spec"])
        reporter.message(f"resuming {store.run_id}: {len(store.pending_cells())} of {len(store.cells)} cells to do")
    elif spec is None:
        raise UsageError("nothing to run", "name at least one model, or --resume RUN")
    else:
        check_inputs(spec)
        root_existed = results_root.exists()
        store = create_run(results_root, spec.to_dict(), command_line or [])
    virtual_started = []
    try:
        # Inputs before devices: a model that cannot be converted is refused before any device
        # is touched or started (and its run directory removed below).
        models, checks = _convert_models(spec, store, reporter)
        servers = adb_servers(spec)
        for server in servers:
            adb.ensure_server(server)
        refs, virtual_started = _devices_for(spec, servers, store, reporter)
        sessions = _open_sessions(refs, store, reporter)
        for session in sessions.values():
            session.while_settling = while_settling
        if not resume:
            store.add_cells(plan_cells(models, _settings_per_device(spec, sessions)))
            reporter.message(f"run {store.run_id}: {len(store.cells)} cells -> {store.root}")
        _execute(spec, store, sessions, models, checks, reporter)
        store.finish()
    except SqueezebenchError:
        if not resume and not store.cells:
            # Refused before anything was planned (a bad model, no usable device): nothing was
            # measured, so no empty run directory is left behind to confuse reports and --resume.
            shutil.rmtree(store.root, ignore_errors=True)
            if not root_existed:
                shutil.rmtree(results_root, ignore_errors=True)
        raise
    finally:
        own_virtual.stop(virtual_started, reporter)
    counts: dict[str, int] = {}
    for cell in store.cells:
        counts[cell["status"]] = counts.get(cell["status"], 0) + 1
    return SweepOutcome(store, counts)


def is_fp16_level(name: str) -> bool:
    """Whether a level's weights are fp16: the only level the GPU delegate may compute in fp16."""
    from harness.convert.levels import parse_level

    try:
        return parse_level(name).quantization == "fp16"
    except UsageError:
        return False  # as-is and names only a .tflite input has


def adb_servers(spec: SweepSpec) -> list[adb.AdbServerAddress]:
    """The first server (from the option or adb's environment), then other hosts' servers,
    including any named in --devices as SERIAL@HOST:PORT."""
    servers = [adb.AdbServerAddress.from_environment(spec.adb_servers[0] if spec.adb_servers else None)]
    named = list(spec.adb_servers[1:]) + [d.partition("@")[2] for d in spec.devices or () if "@" in d]
    for text in named:
        server = adb.AdbServerAddress.parse(text)
        if server not in servers:
            servers.append(server)
    return servers


def _devices_for(spec: SweepSpec, servers, store: RunStore, reporter: Reporter):
    """The devices to sweep, and the virtual devices started for it (to stop at the end)."""
    from harness.device import discovery

    if store.cells:  # resuming: the devices that still have cells to do
        wanted = sorted({c["device"] for c in store.pending_cells()})
        _reconnect_lost_devices(store, wanted)
        started = own_virtual.take_back(store, spec, servers[0], reporter)
        available = {ref.key: ref for ref in discovery.select_devices(servers, None)}
        for key in wanted:
            if key not in available:
                reporter.message(f"{key}: not connected; its cells stay pending")
        return [available[key] for key in wanted if key in available], started
    if spec.devices:
        return discovery.select_devices(servers, list(spec.devices)), []
    states = discovery.server_states(servers)  # one listing for both, so they agree
    refs = discovery.select_devices(servers, None, states)
    unusable = discovery.unusable_devices(servers, states)
    for ref, state in unusable:
        reporter.message(f"{ref.key}: left out, it is {state} ({discovery.STATE_FIXES.get(state, 'reconnect it')})")
    if refs:
        return refs, []
    waiting_for_user = [(ref, state) for ref, state in unusable if state != "offline"]
    if waiting_for_user:
        # A phone is plugged in but not usable (e.g. its USB debugging prompt is not accepted):
        # its owner wants that fixed, not a virtual device instead. Stale offline entries (a
        # device gone long ago) do not count.
        ref, state = waiting_for_user[0]
        raise DeviceError(
            f"{ref.key} is {state}, and no other device is connected",
            f"{discovery.STATE_FIXES.get(state, 'reconnect it')}; or name a device with --devices",
            serial=ref.serial,
        )
    if not spec.auto_virtual:
        raise DeviceError(
            f"no device on adb server {', '.join(map(str, servers))}",
            "plug in a phone, 'squeezebench devices connect HOST:PORT', or 'squeezebench virtual start'",
        )
    started = own_virtual.start(store, spec, servers[0], reporter)
    return [discovery.DeviceRef(servers[0], d.serial) for d in started], started


def _reconnect_lost_devices(store: RunStore, keys: list[str]) -> None:
    """Devices lost during the run may be back: network ones get a fresh adb transport."""
    from harness.device import discovery

    for key in keys:
        device = store.document["devices"].get(key) or {}
        if not device.get("serial") or not device.get("adb_server"):
            continue
        try:
            discovery.reconnect_network_device(adb.AdbServerAddress.parse(device["adb_server"]), device["serial"])
        except DeviceError:
            pass  # still away: reported below as not connected


def _open_sessions(refs, store: RunStore, reporter: Reporter) -> dict:
    """device key -> DeviceSession; a device that fails here is reported and left out."""
    sessions = {}
    for ref in refs:
        try:
            session = open_session(ref.server, ref.serial)
        except DeviceError as e:
            reporter.message(f"{ref.key}: left out, {e.one_line()}")
            continue
        sessions[ref.key] = session
        store.update(
            "devices",
            ref.key,
            {
                "serial": ref.serial,
                "adb_server": str(ref.server),
                "passport": session.passport.to_dict(),
                "profile": getattr(session.profile, "name", None),
                "friendly_name": session.friendly_name,
                "runner": session.runner.to_dict(),
            },
        )
    return sessions


def _convert_models(spec: SweepSpec, store: RunStore, reporter: Reporter) -> tuple[dict[str, dict], dict]:
    """The conversion summaries by model name, and what each model's outputs are checked with."""
    from harness.convert import convert_model
    from harness.sweep.checks import check_data_for

    models: dict[str, dict] = {}
    checks: dict[str, object] = {}
    used_dirs: set[str] = set()
    for source in spec.models:
        model_dir = _unique_dir(safe_component(Path(source).stem if "/" in source or "." in source else source), used_dirs)
        reporter.message(f"converting {source} ({spec.levels}) ...")
        started = time.monotonic()
        document = convert_model(
            source,
            spec.levels,
            store.root / "models" / model_dir,
            data=Path(spec.data) if spec.data else None,
            random_calibration=spec.random_calibration,
            progress=reporter.message,
        )
        summary = conversion_summary(document, f"models/{model_dir}")
        name = _unique_name(summary["name"] or model_dir, models)
        summary["name"] = name
        models[name] = summary
        store.update("models", name, summary)
        checks[name] = check_data_for(spec, source, summary, store.root, reporter.message)
        cached = sum(1 for lv in summary["levels"].values() if lv.get("cached"))
        failed = [lv for lv, info in summary["levels"].items() if info.get("status") != "ok"]
        reporter.message(
            f"converted {name}: {len(summary['levels'])} levels in {time.monotonic() - started:.1f} s "
            f"({cached} from cache)" + (f"; not produced: {', '.join(failed)}" if failed else "")
        )
    return models, checks


def _unique_dir(base: str, used: set[str]) -> str:
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


def _unique_name(base: str, taken: dict) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base} ({n})", n + 1
    return name


def _settings_per_device(spec: SweepSpec, sessions: dict) -> dict[str, tuple[list[int], list[str]]]:
    """Thread counts and delegates per device: as asked, or the device profile's ('auto')."""
    settings = {}
    for key, session in sessions.items():
        threads = list(spec.threads) if spec.threads else [session.default_threads]
        delegates = list(spec.delegates)
        if delegates == ["auto"]:
            delegates = list(getattr(session.profile, "delegates", ()) or ("cpu",))
        settings[key] = (threads, delegates)
    return settings


def _execute(spec: SweepSpec, store: RunStore, sessions: dict, models: dict, checks: dict, reporter: Reporter) -> None:
    queues: dict[str, list[dict]] = {}
    for cell in store.pending_cells():
        if cell["device"] in sessions:
            queues.setdefault(cell["device"], []).append(cell)
    stop = threading.Event()
    workers = [
        DeviceWorker(spec, key, store, sessions[key], queue, models, checks, reporter, stop)
        for key, queue in queues.items()
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        reporter.message("interrupted: finishing nothing new; cells in flight stay pending for --resume")
        raise
    for worker in workers:
        if worker.error is not None:
            # A bug, not a device problem: it keeps its traceback, but only once the other
            # devices have finished and saved everything; its unfinished cells --resume redoes.
            raise worker.error


HOST_CPU_LOCK_SERIAL = "virtual-devices-host-cpu"


class DeviceWorker(threading.Thread):
    # One restart of a local adb server at a time, however many devices lost it together.
    _server_restart_lock = threading.Lock()

    def __init__(self, spec, key, store, session, cells, models, checks, reporter, stop):
        super().__init__(name=f"device-{key}", daemon=True)
        self.spec, self.key, self.store, self.session = spec, key, store, session
        self.cells, self.models, self.checks, self.reporter, self.stop = cells, models, checks, reporter, stop
        self.error: BaseException | None = None

    @property
    def serial(self) -> str:
        return self.session.device.serial

    @property
    def server(self) -> adb.AdbServerAddress:
        return self.session.device.server

    def run(self) -> None:
        try:
            self.work_through_queue()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread, which re-raises it
            self.error = e
            self.reporter.message(f"[{self.key}] stopped by an internal error ({type(e).__name__}: {e})")

    def work_through_queue(self) -> None:
        self.reporter.device_started(self.key, len(self.cells))
        self.session.keep_charging_suspended = True
        self.session.idle_baseline_reuse_s = self.spec.idle_baseline_reuse_s
        with self.device_held():
            idle_baselines.lend_from_last_run(self.session, self.key)
            try:
                self.run_cells()
            finally:
                # Killed before this (SIGKILL, power cut), the notes left on the device make the
                # next benchmark there restore both (harness/device/charging.py, stay_awake.py).
                self.session.restore_held()
                idle_baselines.keep_for_next_run(self.session, self.key, self.store.run_id)
        self.record_transfers()
        self.reporter.device_finished(self.key)

    def run_cells(self) -> None:
        for index, cell in enumerate(self.cells):
            if self.stop.is_set() or not self.battery_above_floor():
                break
            self.reporter.cell_started(self.key, cell, index, len(self.cells))
            result = self.run_cell(cell)
            self.reporter.cell_finished(self.key, cell, result)
            if result.status is CellStatus.DEVICE_LOST:
                self.give_up(self.cells[index + 1 :], self.store.cell(cell["id"])["reason"])
                break

    def battery_above_floor(self) -> bool:
        """False when the battery could not be charged back above the floor: the queue ends."""
        event = keep_above_floor(self.session, self.spec.battery_floor_pct, stop=self.stop.is_set,
                                 say=lambda text: self.reporter.message(f"[{self.key}] {text}"))
        if event is None:
            return True
        self.store.mutate(lambda document: document["devices"].setdefault(self.key, {})
                          .setdefault("battery_floor", []).append({**event, "utc": utc_now()}))
        return event["reached"]

    def record_transfers(self) -> None:
        """What had to be pushed (a warm second run pushes nothing), kept in run.json and said."""
        log = self.session.transfer_log
        pushed = [t for t in log if t["pushed"]]
        megabytes = sum(t["bytes"] for t in pushed) / 1e6
        self.store.mutate(
            lambda document: document["devices"].setdefault(self.key, {}).setdefault("transfers", []).extend(log)
        )
        self.reporter.message(
            f"[{self.key}] pushed {len(pushed)} file(s), {megabytes:.1f} MB; "
            f"{len(log) - len(pushed)} already on the device (same sha256)"
        )

    def run_cell(self, cell: dict) -> BenchResult:
        for _attempt in range(MAX_ATTEMPTS_PER_CELL):
            result = self.benchmark(cell)
            if result.status is not CellStatus.DEVICE_LOST or not self.recover():
                break
            self.reporter.message(f"[{self.key}] back after losing it; retrying {cell['model']} {cell['level']}")
        self.store.update_cell(
            cell["id"],
            status=result.status,
            reason=result.reason,
            finished_utc=utc_now(),
            summary=result.measurements.to_dict(),
        )
        return result

    def benchmark(self, cell: dict) -> BenchResult:
        model = self.models[cell["model"]]
        level = model["levels"][cell["level"]]
        model_file = self.store.contained(f"{model['dir']}/{level['file']}")
        cell_dir = self.store.cell_dir(cell)
        if cell_dir.exists():
            shutil.rmtree(cell_dir)  # left by a run that died mid-cell
        self.store.update_cell(cell["id"], status=CellStatus.RUNNING, started_utc=utc_now(), attempts=cell.get("attempts", 0) + 1)
        settings = self.settings_for(cell)
        with self.host_cpu_held():
            return run_benchmark(
                self.session,
                model_file,
                settings,
                cell_dir,
                model_info={"name": cell["model"], "level": cell["level"], "sha256": level.get("sha256")},
                cell_id=cell["id"],
                check_data=self.checks.get(cell["model"]),
            )

    def settings_for(self, cell: dict) -> BenchSettings:
        settings = self.session.settings_for(self.spec.measurement, threads=cell["threads"], delegate=cell["delegate"])
        return replace(settings, gpu_precision_loss_allowed=is_fp16_level(cell["level"]))

    def device_held(self):
        return device_lock(
            str(self.server),
            self.serial,
            wait_s=self.spec.device_wait_s,
            purpose=f"squeezebench run {self.store.run_id}",
            on_wait=lambda holder: self.reporter.message(f"{self.key}: busy, waiting for {holder}"),
        )

    def host_cpu_held(self):
        if not self.session.passport.is_virtual or self.spec.virtual_parallel:
            return nullcontext()
        return device_lock("localhost", HOST_CPU_LOCK_SERIAL, purpose=f"virtual device {self.key}")

    def recover(self) -> bool:
        """After losing the device: bring the adb server back (if it is on this host), reconnect,
        and wait up to spec.recover_wait_s for the device. A remote server is only waited for."""
        wait_s = self.spec.recover_wait_s
        self.reporter.message(f"[{self.key}] lost; waiting up to {wait_s:g} s for it to come back")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and not self.stop.is_set():
            if self.device_is_back():
                # It may come back rebooted or with another /data (reset, another device on that
                # port): check every file on it again, and learn its state afresh.
                self.session.forget_device_state()
                return True
            time.sleep(RECOVER_POLL_S)
        return False

    def device_is_back(self) -> bool:
        from harness.device import discovery

        try:
            if not adb.server_is_up(self.server):
                if not self.server.is_local:
                    return False  # another host's server: only that host can restart it
                self.restart_local_server()
            discovery.reconnect_network_device(self.server, self.serial)
            return adb.device_states(self.server).get(self.serial) == "device"
        except (DeviceError, OSError):
            return False

    def restart_local_server(self) -> None:
        with self._server_restart_lock:
            if not adb.server_is_up(self.server):
                self.reporter.message(f"adb server {self.server} is down; restarting it")
                adb.ensure_server(self.server)

    def give_up(self, cells: list[dict], reason: str) -> None:
        for cell in cells:
            self.store.update_cell(
                cell["id"], status=CellStatus.DEVICE_LOST, reason=f"not run: device lost earlier ({reason})"
            )

