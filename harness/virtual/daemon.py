"""One virtual device: `python -m harness.virtual.daemon --port P --profile NAME ...`.

The daemon owns the device's sandbox (its processes die with it, even on SIGKILL), listens for
adb servers on 127.0.0.1:PORT, runs the power/thermal model, and keeps itself registered with
its adb server (`adb connect`, again whenever that server restarts or drops it).

While running, `device.json` in its state directory says so (harness.virtual.fleet reads it);
SIGTERM or SIGINT stops it cleanly: it unregisters, closes its port, ends its sandbox and
removes that file. /data (under the state directory) is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

from harness.device import adb
from harness.device.profiles import load_virtual_profile
from harness.errors import DeviceError, InputError, SqueezebenchError
from harness.jsonfile import write_json_atomic
from harness.schemas import VIRTUAL_DEVICE
from harness.virtual import properties, sandbox, sysfs, system_image
from harness.virtual.fuel_gauge import FuelGauge
from harness.virtual.ownership import OrphanWatch
from harness.virtual.power import TICK_S, PowerModel, PowerStart, SandboxCpuMeter
from harness.virtual.throttle import DutyCycle
from harness.virtual.adb_services import Services
from harness.virtual.protocol import FEATURES, MAX_PAYLOAD_BYTES, device_banner
from harness.virtual.system_server import SystemServer
from harness.virtual.transport import Connection, ServiceHandler

log = logging.getLogger("harness.virtual.daemon")

RECORD_NAME = "device.json"
REGISTRATION_CHECK_S = 2.0
OWNER_CHECK_S = 2.0
LISTEN_BACKLOG = 100  # asyncio's default


class PortInUseError(InputError):
    """The port was free when chosen but taken before the daemon could bind it."""


def _load_replay(capture_dir: str | None, profile):
    if not capture_dir:
        return None
    from harness.device.capture import Capture
    from harness.virtual.replay import Replay

    return Replay(Capture.load(capture_dir), profile)


class VirtualDeviceDaemon:
    def __init__(self, args: argparse.Namespace):
        self.port: int = args.port
        self.serial = f"127.0.0.1:{self.port}"
        self.state_dir = Path(args.state_dir).resolve()
        self.adb_server = adb.AdbServerAddress.parse(args.adb_server)
        self.unauthorized: bool = args.unauthorized
        self.storage_mb: int | None = args.storage_mb
        self.profile = load_virtual_profile(args.profile)
        self.layout = sandbox.DeviceLayout(self.state_dir)
        self.replay = _load_replay(args.capture, self.profile)
        simulated_props = properties.initial_properties(self.profile, serial_number=f"VIRTUAL{self.port}")
        self.props = properties.PropertyStore(self.replay.properties(simulated_props) if self.replay else simulated_props)
        self.power = PowerModel(self.profile, self.replay.power_start() if self.replay else PowerStart())
        self.cores = self.replay.sysfs.clocks(self.profile.cpu) if self.replay else sysfs.profile_clocks(self.profile.cpu)
        if self.replay:
            self.replay.attach(self.power)
        self._stop = asyncio.Event()
        self._recheck_registration = asyncio.Event()
        self._connections: set[asyncio.Task] = set()
        build = self.profile.build
        names = self.replay.banner_fields() if self.replay else (build.name, build.model, build.device)
        self._banner = device_banner(*names, features=self.replay.features if self.replay else FEATURES)
        self._sandbox: sandbox.Sandbox | None = None
        self._services: Services | None = None
        self._system_server: SystemServer | None = None
        self._duty_cycle = DutyCycle(lambda: self._sandbox.init_host_pid if self._sandbox else None)

    @property
    def device_name(self) -> str:
        """ro.product.device: what the shell's prompt and $HOSTNAME show."""
        return self.props.get("ro.product.device") or self.profile.build.device

    # transport.Device -----------------------------------------------------------------

    def banner(self) -> bytes:
        return self._banner

    def open_service(self, name: str) -> ServiceHandler | None:
        return self._services.open(name)

    # Lifecycle --------------------------------------------------------------------------

    async def run(self, report_ready) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self._stop.set)
        tcp_server = await self._listen()  # first: a taken port fails before any other work
        try:
            tools = sandbox.find_host_tools()
            sandbox.prepare_data(self.layout)
            system_image.build_system(self.layout, tools, properties.build_prop_text(dict(self.props.items_sorted())),
                                 commands=self.replay.commands(tools) if self.replay else None)
            if self.replay:
                self.replay.sysfs.build(self.layout.sysfs_dir, self.cores)
            else:
                sysfs.build_sysfs(self.layout.sysfs_dir, self.cores)
            storage_limit = self.storage_mb * 1024 * 1024 if self.storage_mb is not None else None
            self._sandbox = sandbox.Sandbox(
                self.layout, tools, sandbox.shell_environment(self.device_name), storage_limit,
                file_binds=self.replay.file_binds(self.layout.replay_dir) if self.replay else (),
            )
            self._sandbox.start()
            try:
                await self._serve(tcp_server, report_ready)
            finally:
                self._sandbox.stop()
                (self.state_dir / RECORD_NAME).unlink(missing_ok=True)
        finally:
            tcp_server.close()

    async def _listen(self) -> asyncio.AbstractServer:
        """The port, bound and listening before anything else is done: connections wait in the
        backlog until the device serves. With SO_REUSEADDR, Linux lets two sockets bind one port
        as long as neither listens yet, so a bind alone does not claim it; another program's
        listen() in between made ours fail late, after the sandbox had started."""
        # IPPROTO_TCP spelt out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
        # and without it every request stalls 40 ms in Nagle's algorithm and delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            # As asyncio does: a port in TIME_WAIT after a killed device is free to take.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(LISTEN_BACKLOG)
        except OSError as e:
            sock.close()
            error_class = PortInUseError if e.errno == errno.EADDRINUSE else InputError
            raise error_class(f"port {self.port} cannot be used: {e.strerror}", "pick another with --port") from None
        return await asyncio.start_server(
            self._accept, sock=sock, limit=2 * MAX_PAYLOAD_BYTES, backlog=LISTEN_BACKLOG, start_serving=False
        )

    async def _serve(self, tcp_server: asyncio.AbstractServer, report_ready) -> None:
        self._sandbox.attach(asyncio.get_running_loop(), on_lost=self._sandbox_lost)
        self._services = Services(self._sandbox, v1_pty=bool(self.replay and self.replay.pty))
        self._system_server = SystemServer(
            self.profile, self.props, self.power, self.state_dir / "system.json",
            proc_dir=lambda: self._sandbox.proc_dir, replay=self.replay,
        )
        self._system_server.log.add(
            "I", "squeezebench", f"virtual device {self.serial} started, profile {self.profile.name}"
        )
        self._publish_for_fast_stand_ins()
        system_socket = await self._system_server.serve(self.layout.system_server_socket)
        power_task = asyncio.create_task(self._simulate_power())
        throttle_task = asyncio.create_task(self._duty_cycle.run())
        await tcp_server.start_serving()
        self._write_record()
        report_ready({"ok": True, "pid": os.getpid()})
        log.info("listening on %s, profile %s", self.serial, self.profile.name)
        registration_task = asyncio.create_task(self._stay_registered())
        orphan_task = asyncio.create_task(self._stop_when_orphaned())
        try:
            await self._stop.wait()
        finally:
            log.info("stopping")
            registration_task.cancel()
            orphan_task.cancel()
            tcp_server.close()
            await self._unregister()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            power_task.cancel()
            throttle_task.cancel()
            await asyncio.gather(throttle_task, return_exceptions=True)
            system_socket.close()

    def _publish_for_fast_stand_ins(self) -> None:
        """What the fast getprop and `dumpsys` read (sandbox.PUBLISHED_DIR), kept current:
        properties on every change, the dumps of system_image.FAST_DUMPSYS_SERVICES on every
        power tick and after every command (an override, a key event or `svc power stayon` shows
        at once)."""
        for name, value in self.props.items_sorted():
            self._publish_property(name, value, listing=False)
        self._publish_property_listing()
        self.props.on_change(self._publish_property)
        self._system_server.after_every_command(self._publish_dumps)
        self._publish_dumps()

    def _publish_property(self, name: str, value: str, *, listing: bool = True) -> None:
        if system_image.publishable_property(name):
            system_image.publish(self.layout, f"properties/{name}", value + "\n")
        if listing:
            self._publish_property_listing()

    def _publish_property_listing(self) -> None:
        # The system server's own answer: one format for both paths.
        system_image.publish(self.layout, "getprop", self._system_server.getprop_listing())

    def _publish_dumps(self) -> None:
        for service in system_image.FAST_DUMPSYS_SERVICES:
            dump = self._system_server.served_dump(service)
            if dump is None:
                system_image.unpublish(self.layout, f"dumpsys/{service}")
            else:
                system_image.publish(self.layout, f"dumpsys/{service}", dump)

    def _sandbox_lost(self) -> None:
        log.error("the sandbox ended unexpectedly; stopping the device")
        self._stop.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            await Connection(reader, writer, self).serve()
        finally:
            self._connections.discard(task)
            # The server may have restarted or dropped us: check soon rather than in a while.
            self._recheck_registration.set()

    async def _stop_when_orphaned(self) -> None:
        watch = OrphanWatch(self.state_dir)
        while True:
            await asyncio.sleep(OWNER_CHECK_S)
            gone = watch.should_stop(time.monotonic())
            if gone is not None:
                log.warning("run %s (pid %d) that started this device is gone; stopping", gone.run_id, gone.pid)
                self._stop.set()
                return

    # adb server registration ------------------------------------------------------------

    async def _stay_registered(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self._ensure_registered)
            except SqueezebenchError as e:
                log.warning("registration with %s: %s", self.adb_server, e.one_line())
            self._recheck_registration.clear()
            try:
                await asyncio.wait_for(self._recheck_registration.wait(), REGISTRATION_CHECK_S)
                await asyncio.sleep(0.5)  # let a restarting server finish starting
            except asyncio.TimeoutError:
                pass

    def _ensure_registered(self) -> None:
        # Only ever talk to a server that answers: adbutils would otherwise try to start one.
        if not adb.server_is_up(self.adb_server):
            return
        # "offline": the server lost us (e.g. we were restarted on the same port) and only retries.
        if adb.device_states(self.adb_server).get(self.serial) in (None, "offline"):
            log.info("registering with the adb server at %s", self.adb_server)
            try:
                adb.connect(self.adb_server, self.serial)
            except DeviceError as e:
                # An unauthorized device is registered, just not authenticated: as intended.
                if not (self.unauthorized and "authenticate" in e.problem):
                    raise

    async def _unregister(self) -> None:
        try:
            await asyncio.to_thread(adb.disconnect, self.adb_server, self.serial)
        except Exception as e:  # adbutils raises its own error classes
            log.warning("could not unregister from %s: %s", self.adb_server, e)

    # Power and thermal simulation --------------------------------------------------------

    async def _simulate_power(self) -> None:
        meter = SandboxCpuMeter(self._sandbox.proc_dir)
        meter.cpu_since_last_s()
        if self.replay:
            publisher = self.replay.sysfs.publisher(self.layout.sysfs_dir, self.cores)
        else:
            publisher = sysfs.SysfsPublisher(self.layout.sysfs_dir, self.cores)
        gauge = FuelGauge(self.profile.battery.gauge_refresh_s, seed=self.port)
        publisher.publish(gauge.observe(self.power.last, 0.0))
        last_status = self.power.last.thermal_status
        last_tick = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            reading = self.power.step(now - last_tick, meter.cpu_since_last_s())
            publisher.publish(gauge.observe(reading, now - last_tick))
            last_tick = now
            self._duty_cycle.follow(reading.cap_fraction)
            self._publish_dumps()
            if reading.thermal_status != last_status:
                self._system_server.log.add(
                    "W", "ThermalManager",
                    f"thermal status {last_status} -> {reading.thermal_status} (skin {reading.skin_temp_c:.1f} C)",
                )
                last_status = reading.thermal_status

    def _write_record(self) -> None:
        write_json_atomic(self.state_dir / RECORD_NAME, {
            **VIRTUAL_DEVICE.stamp(),
            "serial": self.serial,
            "port": self.port,
            "pid": os.getpid(),
            "profile": self.profile.name,
            "adb_server": str(self.adb_server),
            "unauthorized": self.unauthorized,
            "storage_mb": self.storage_mb,
            "started_at": time.time(),
            "capture": str(self.replay.capture.root) if self.replay else None,
            "parts": self.replay.parts if self.replay else None,
        })


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.virtual.daemon", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", default="virtual-default")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--adb-server", required=True, help="HOST:PORT of the adb server to register with")
    parser.add_argument("--unauthorized", action="store_true")
    parser.add_argument("--storage-mb", type=int)
    parser.add_argument("--capture", help="a captured phone's directory to answer as (harness.virtual.replay)")
    parser.add_argument("--ready-fd", type=int, help="write one JSON line here once serving (or failed)")
    parser.add_argument("--detach", action="store_true", help="fork into the background first")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Any adb server adbutils might ever start from the daemon's process must be its own, never
    # the default 5037. Set here, in the daemon's process, not by the class: a process that builds
    # a daemon object (a test) must not have its environment changed for everything it runs next.
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(adb.AdbServerAddress.parse(args.adb_server).port)
    if args.detach and os.fork() != 0:
        # The caller waits for this first process only; the device lives on in the child,
        # re-parented to init, so that no caller ever has to reap it.
        os._exit(0)
    Path(args.state_dir).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=Path(args.state_dir) / "daemon.log", level=logging.INFO,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    ready_file = os.fdopen(args.ready_fd, "w") if args.ready_fd is not None else None

    def report_ready(message: dict) -> None:
        nonlocal ready_file
        if ready_file is not None:
            ready_file.write(json.dumps(message) + "\n")
            ready_file.close()
            ready_file = None

    try:
        asyncio.run(VirtualDeviceDaemon(args).run(report_ready))
    except SqueezebenchError as e:
        log.error("%s", e.one_line())
        report_ready({"ok": False, "problem": e.problem, "fix": e.fix, "exit_code": int(e.exit_code),
                      "class": type(e).__name__})
        return int(e.exit_code)
    except Exception as e:
        log.exception("the virtual device failed")
        report_ready({"ok": False, "problem": f"the virtual device failed: {e}", "fix": None,
                      "exit_code": 1, "class": "RuntimeError"})
        return 1
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
