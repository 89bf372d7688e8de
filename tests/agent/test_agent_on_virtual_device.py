"""The agent on the virtual device, through the real adb server: Android's layout, mksh as
/system/bin/sh, toybox, the simulated battery. Its output parses, and the energy it samples is
`simulated`: valid and positive with the charger input suspended, invalid while charging."""

from __future__ import annotations

import shlex

import pytest

from harness.bench.agent_result import parse_agent_result, parse_energy_samples
from harness.bench.energy import compute_energy
from harness.device import adb
from harness.virtual import fleet
from tests.support.energy import assert_energy_as_recorded
from tests.support.polling import wait_for
from tests.agent.support import AGENT

pytestmark = pytest.mark.slow  # two agent runs with a 2.5 s idle baseline each, on a device of its own

REMOTE_DIR = "/data/local/tmp/squeezebench"
# Keeps one core busy for 3-4 s: enough load, and enough time, for the simulated fuel gauge
# (which, as a phone's, gives a new reading every 0.25-1 s) to see.
BUSY_RUNNER = ('#!/system/bin/sh\nread up _ </proc/uptime\nend=$((${up%.*} + 4))\n'  # 3-4 s, however fast the host
               'while :; do read up _ </proc/uptime; [ "${up%.*}" -ge "$end" ] && break; done\necho "ran $# args: $*"\n')


@pytest.fixture(scope="module")
def phone(adb_server, tmp_path_factory):
    [device] = fleet.start(1, adb_server=adb_server)
    handle = adb.client(adb_server).device(device.serial)
    runner = tmp_path_factory.mktemp("runner") / "busy.sh"
    runner.write_text(BUSY_RUNNER)
    handle.shell(f"mkdir -p {REMOTE_DIR}")
    handle.sync.push(str(AGENT), f"{REMOTE_DIR}/agent.sh")
    handle.sync.push(str(runner), f"{REMOTE_DIR}/busy.sh")
    handle.shell(f"chmod 755 {REMOTE_DIR}/busy.sh")
    yield handle
    fleet.stop(device, delete=True)


def run_agent(phone, out: str, tmp_path):
    # adb shell hands one command line to the device's shell: every argument is quoted for it.
    command = ["sh", f"{REMOTE_DIR}/agent.sh", "--out", f"{REMOTE_DIR}/{out}", "--idle-baseline-s", "2.5",
               "--sample-interval-ms", "100", "--timeout-s", "60",
               "--", f"{REMOTE_DIR}/busy.sh", "my model.tflite", "$(reboot)"]
    phone.shell(" ".join(shlex.quote(part) for part in command), timeout=120)
    for name in ("done", "result.txt", "energy.csv", "runner.log"):
        phone.sync.pull(f"{REMOTE_DIR}/{out}/{name}", str(tmp_path / f"{out}-{name}"))
    result = parse_agent_result((tmp_path / f"{out}-result.txt").read_text())
    samples = parse_energy_samples((tmp_path / f"{out}-energy.csv").read_text())
    return result, samples, (tmp_path / f"{out}-runner.log").read_text()


def set_charging_suspended(phone, suspended: bool) -> None:
    """Like the host does before a run: set the property, then wait for the battery to follow
    (the fuel gauge and BatteryService update on their own tick, phones and this device alike)."""
    phone.shell(f"setprop power.battery_input.suspended {'true' if suspended else 'false'}")
    wait_for(lambda: (phone.shell("cat /sys/class/power_supply/battery/status").strip() in ("Discharging", "Not charging"))
             == suspended, f"the battery status to follow the suspension ({suspended})", timeout_s=10)
    # A fuel gauge's reading averages the time before it: two new readings carry no charging current.
    readings = [phone.shell("cat /sys/class/power_supply/battery/current_now").strip()]
    wait_for(lambda: readings.append(phone.shell("cat /sys/class/power_supply/battery/current_now").strip())
             or len(set(readings)) >= 3, "two new fuel gauge readings", timeout_s=10)


def test_suspended_charging_gives_simulated_energy_and_charging_does_not(phone, tmp_path):
    set_charging_suspended(phone, True)
    result, samples, log = run_agent(phone, "suspended", tmp_path)

    assert log == "ran 2 args: my model.tflite $(reboot)\n"
    assert "MIRBSD KSH" in result.shell
    assert result.runner.status == "ok" and result.energy.source == "battery-gauge"
    assert result.before.battery.input_suspended is True
    assert len(result.before.cpus) >= 1 and result.before.thermal_status is not None
    # The busy loop has no start-up: all of it counts as its measured runs.
    energy = compute_energy(result, samples, None, n_inferences=100, measured_s=result.runner.duration_s,
                            is_virtual=True, charging_suspended=True)
    assert energy.method == "simulated"
    assert_energy_as_recorded(energy.to_dict(), samples)

    set_charging_suspended(phone, False)
    result, samples, _ = run_agent(phone, "charging", tmp_path)

    energy = compute_energy(result, samples, None, n_inferences=100, measured_s=result.runner.duration_s,
                            is_virtual=True, charging_suspended=False)
    assert (energy.method, energy.validity, energy.energy_per_inference_j) == ("simulated", "invalid: charging", None)
