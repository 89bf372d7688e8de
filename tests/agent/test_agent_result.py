"""harness.bench.agent_result: tolerant of missing keys, strict about malformed lines."""

from __future__ import annotations

import pytest

from harness.bench.agent_result import AGENT_VERSION, AgentResultError, parse_agent_result, parse_energy_samples

FULL = """\
agent.version=1
agent.shell=/system/bin/sh @(#)MIRBSD KSH R59 2020/10/31 Android
agent.start_uptime_s=1000.00
before.uptime_s=1000.01
before.battery.path=battery
before.battery.capacity_pct=81
before.battery.status=Not charging
before.battery.temp_dC=-12
before.battery.current_now=-312000
before.battery.voltage_now=3912000
before.battery.charge_counter=3100000
before.battery.input_suspended=true
before.supply.usb.type=USB
before.supply.usb.online=1
before.supply.main-charger.type=Mains
before.supply.main-charger.online=0
before.supply.maxfg.type=Unknown
before.supply.maxfg.online=1
before.thermal.status=1
before.cpu0.online=
before.cpu0.governor=schedutil
before.cpu0.cur_freq_khz=300000
before.cpu0.max_freq_khz=1804800
before.cpu7.online=0
before.cpu7.governor=
before.cpu7.cur_freq_khz=
before.cpu7.max_freq_khz=
cooldown.requested_s=60
cooldown.temp_limit_c=35.0
cooldown.thermal_status_at_start=1
cooldown.battery_temp_dC_at_start=351
cooldown.result=cool
cooldown.waited_s=12.34
energy.source=power-rails
energy.rails_hal=2.0
energy.gauge_path=battery
energy.interval_ms=250
energy.idle_s=2
energy.samples=energy.csv
energy.rails_idle_start_uptime_s=1012.40
energy.rails_idle_start_end_uptime_s=1012.52
runner.argv='/data/local/tmp/benchmark_model' '--graph=/data/local/tmp/my model.tflite' 'it'\\''s'
runner.timeout_s=300
taskset.mask=f0
runner.process_group=own
runner.start_uptime_s=1014.60
runner.end_uptime_s=1020.10
runner.exit_code=139
runner.signal=11
runner.status=killed
energy.rails_files=rails_idle_start.txt rails_run_start.txt rails_run_end.txt
agent.end_uptime_s=1021.00
"""


def test_every_section_is_typed():
    result = parse_agent_result(FULL)

    assert result.version == 1 and "MIRBSD KSH" in result.shell
    battery = result.before.battery
    assert (battery.source, battery.capacity_pct, battery.status) == ("battery", 81, "Not charging")
    assert battery.temp_c == -1.2
    assert (battery.current_now, battery.voltage_now, battery.charge_counter_uah) == (-312000, 3912000, 3100000)
    assert battery.input_suspended is True and battery.charging is False
    # Only supplies of a charger type count as external power.
    assert result.before.external_power_online == ("usb",)
    assert [(c.index, c.online, c.governor) for c in result.before.cpus] == [(0, None, "schedutil"), (7, False, None)]
    assert result.before.thermal_status == 1
    cooldown = result.cooldown
    assert (cooldown.result, cooldown.waited_s, cooldown.battery_temp_c_at_start) == ("cool", 12.34, 35.1)
    runner = result.runner
    assert runner.argv == ("/data/local/tmp/benchmark_model", "--graph=/data/local/tmp/my model.tflite", "it's")
    assert (runner.status, runner.exit_code, runner.signal, runner.taskset_mask) == ("killed", 139, 11, "f0")
    assert runner.duration_s == pytest.approx(5.5)
    assert result.energy.rails_files == ("rails_idle_start.txt", "rails_run_start.txt", "rails_run_end.txt")
    assert result.energy.rails_uptime_s == {"idle_start": (1012.40, 1012.52)}
    assert result.extra == {}
    assert result.to_dict()["runner"]["status"] == "killed"


def test_an_older_agent_missing_most_keys_still_parses():
    result = parse_agent_result("agent.version=1\nrunner.status=ok\nrunner.exit_code=0\n")

    assert result.runner.status == "ok"
    assert result.before.battery.status is None and result.before.battery.charging is None
    assert result.before.cpus == () and result.before.supplies == ()
    assert result.before.external_power_online is None
    assert result.cooldown.result is None and result.energy.source is None
    assert result.energy.rails_files == () and result.runner.duration_s is None


def test_a_programmable_charger_reads_as_online():
    # sysfs-class-power: online is 0, 1, or 2 for a programmable (USB-PD / PPS) charger.
    result = parse_agent_result("before.supply.usb.type=USB_PD\nbefore.supply.usb.online=2\n"
                                "before.supply.ac.type=Mains\nbefore.supply.ac.online=0\n")

    assert result.before.external_power_online == ("usb",)


def test_unknown_keys_are_kept_and_the_last_duplicate_wins():
    result = parse_agent_result("runner.status=failed\nfuture.key=x=y\nrunner.status=ok\n")

    assert result.runner.status == "ok"
    assert result.extra == {"future.key": "x=y"}


def test_crlf_blank_lines_and_values_with_odd_characters():
    result = parse_agent_result("\r\nagent.shell=sh; `x` $(y) é\r\n\n")

    assert result.shell == "sh; `x` $(y) é"


@pytest.mark.parametrize(("text", "message"), [
    ("agent.version=1\nrunner.status=ok\nthis is not a pair\n", "line 3 is not key=value"),
    ("=value\n", "line 1 is not key=value"),
    ("bad key=1\n", "line 1 is not key=value"),
    ("agent.version=1\nrunner.exit_code=one\n", "line 2: runner.exit_code should be a whole number"),
    ("runner.status=exploded\n", "runner.status should be one of ok, failed"),
    ("before.battery.temp_dC=31.5\n", "tenths of a degree"),
    ("before.battery.input_suspended=maybe\n", "true/false"),
    ("before.supply.usb.online=yes please\n", "online value"),
    ("runner.argv='unterminated\n", "sh-quoted"),
])
def test_malformed_lines_are_errors_naming_the_line(text, message):
    with pytest.raises(AgentResultError) as caught:
        parse_agent_result(text)

    assert message in caught.value.problem
    assert caught.value.fix  # says what to do about it


def test_a_newer_agent_version_is_refused():
    with pytest.raises(AgentResultError, match=f"agent version {AGENT_VERSION + 1}"):
        parse_agent_result(f"agent.version={AGENT_VERSION + 1}\n")


def test_energy_samples():
    samples = parse_energy_samples(
        "uptime_s,phase,current_now,voltage_now\n100.00,idle,-150000,3850000\n100.25,run,,3850000\n100.50,run,-4"
    )

    assert [(s.uptime_s, s.phase, s.current_now, s.voltage_now) for s in samples] == [
        (100.0, "idle", -150000, 3850000), (100.25, "run", None, 3850000)]  # the cut-off last row is dropped


@pytest.mark.parametrize(("text", "message"), [
    ("time,phase\n", "header"),
    ("uptime_s,phase,current_now,voltage_now\n1.0,warmup,1,2\n", "line 2 is not"),
    ("uptime_s,phase,current_now,voltage_now\n1.0,run,1.5,2\n", "line 2 has a value that is not a number"),
])
def test_malformed_energy_samples(text, message):
    with pytest.raises(AgentResultError, match=message):
        parse_energy_samples(text)
