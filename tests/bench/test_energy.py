"""harness.bench.energy: normalisation, baseline, validity rules, rails, the HAL dump format."""

from __future__ import annotations

import pytest

from harness.bench.agent_result import EnergySample, parse_agent_result
from harness.bench.energy import IdleBaseline, compute_energy
from harness.bench.energy_rails import parse_rail_energy_mws

RUN_START_S, RUN_END_S = 100.0, 102.0


def agent_result(*, status="Discharging", status_after=None, usb_online="0", suspended="", runner_status="ok",
                 rails_uptimes=None, source="battery-gauge", thermal=0, start_s=RUN_START_S, end_s=RUN_END_S,
                 cooled_to=None):
    lines = [f"runner.status={runner_status}", f"runner.start_uptime_s={start_s}",
             f"runner.end_uptime_s={end_s}", f"energy.source={source}"]
    if cooled_to is not None:
        lines.append(f"cooldown.thermal_status_at_end={cooled_to}")
    for prefix, prefix_status in (("before", status), ("after", status_after or status)):
        lines += [f"{prefix}.battery.status={prefix_status}", f"{prefix}.battery.input_suspended={suspended}",
                  f"{prefix}.supply.usb.type=USB", f"{prefix}.supply.usb.online={usb_online}",
                  f"{prefix}.thermal.status={thermal}"]
    if rails_uptimes:
        lines.append("energy.rails_files=" + " ".join(f"rails_{dump}.txt" for dump in rails_uptimes))
        for dump, (before_s, after_s) in rails_uptimes.items():
            lines += [f"energy.rails_{dump}_uptime_s={before_s}", f"energy.rails_{dump}_end_uptime_s={after_s}"]
    return parse_agent_result("\n".join(lines) + "\n")


def gauge(idle_current, run_current, *, voltage=4_000_000, interval_s=0.25, wobble=1):
    """Steady currents: idle samples over [97, 99.75], run samples over the runner window. Each
    reading is `wobble` above or below the last, as a live fuel gauge's readings differ; the
    ups and downs cancel in the time-weighted means."""
    def reading(i, current):
        return current + (wobble if i % 2 else -wobble) * (1 if current >= 0 else -1)

    idle = [EnergySample(97 + i * interval_s, "idle", reading(i, idle_current), voltage) for i in range(12)]
    steps = round((RUN_END_S - RUN_START_S) / interval_s)
    run = [EnergySample(RUN_START_S + i * interval_s, "run", reading(i, run_current), voltage) for i in range(steps + 1)]
    return idle + run


def energy_of(result, samples, rails=None, **kwargs):
    """By default the measured runs fill the whole runner window: no start-up to tell apart."""
    arguments = dict(n_inferences=10, measured_s=RUN_END_S - RUN_START_S, is_virtual=False,
                     charging_suspended=None) | kwargs
    return compute_energy(result, samples, rails, **arguments)


# 100 mA idle and 300 mA run at 4 V: 400 mW baseline, 1200 mW gross, 800 mW net, over 2 s and 10
# inferences 0.16 J each.
@pytest.mark.parametrize(("idle", "run", "normalisation"), [
    (-100_000, -300_000, ("current sign flipped",)),  # kernel ABI: negative while discharging
    (100_000, 300_000, ()),  # drivers that report discharge as positive
    (-100, -300, ("current mA->µA", "current sign flipped")),
    (100, 300, ("current mA->µA",)),
])
def test_sign_and_unit_are_normalised_and_the_baseline_subtracted(idle, run, normalisation):
    energy = energy_of(agent_result(), gauge(idle, run))

    assert (energy.method, energy.validity, energy.reason) == ("battery-gauge", "valid", None)
    assert energy.normalisation == normalisation
    assert energy.idle_power_mw == pytest.approx(400)
    assert energy.gross_power_mw == pytest.approx(1200)
    assert energy.net_power_mw == pytest.approx(800)
    assert energy.run_duration_s == pytest.approx(2.0)
    assert energy.energy_per_inference_j == pytest.approx(0.16)
    assert (energy.idle_samples, energy.run_samples, energy.sample_interval_ms) == (12, 9, pytest.approx(250))


def test_voltage_in_millivolts_is_normalised():
    energy = energy_of(agent_result(), gauge(-100_000, -300_000, voltage=4000))

    assert energy.normalisation == ("voltage mV->µV", "current sign flipped")
    assert energy.energy_per_inference_j == pytest.approx(0.16)


def test_power_is_weighted_by_time_not_by_sample_count():
    idle = gauge(100_000, 100_000)[:12]
    # 100 mA for the first 0.1 s, a ramp to 300 mA by 0.2 s, then 300 mA until the end (each
    # reading a µA off the last, as a live gauge's are).
    run = [EnergySample(t, "run", c, 4_000_000) for t, c in
           [(100.0, 100_000), (100.1, 100_001), (100.2, 300_000), (101.0, 300_001), (102.0, 300_000)]]
    energy = energy_of(agent_result(), idle + run)

    # (0.1 s x 400 mW + 0.1 s x 800 mW + 1.8 s x 1200 mW) / 2 s; the mean of the samples would be 800.
    assert energy.gross_power_mw == pytest.approx(1140, rel=1e-5)


def test_samples_may_be_given_as_energy_csv_text():
    rows = "".join(f"{s.uptime_s},{s.phase},{s.current_now},{s.voltage_now}\n" for s in gauge(100_000, 300_000))
    from_text = energy_of(agent_result(), "uptime_s,phase,current_now,voltage_now\n" + rows)

    assert from_text.energy_per_inference_j == pytest.approx(0.16)
    assert energy_of(agent_result(), "").validity == "invalid: no energy source"
    broken = energy_of(agent_result(), "uptime_s,phase,current_now,voltage_now\n1.0,run,x,4\n")
    assert broken.validity == "invalid: bad samples" and "line 2" in broken.reason


def test_samples_outside_the_runner_window_do_not_count():
    samples = gauge(100_000, 300_000) + [EnergySample(102.25, "run", 3_000_000, 4_000_000)]

    assert energy_of(agent_result(), samples).gross_power_mw == pytest.approx(1200)


@pytest.mark.parametrize(("status", "usb_online", "reason"), [
    ("Charging", "1", "battery status was Charging"),
    ("Full", "1", "battery status was Full"),
    ("Discharging", "1", "external power was online (usb)"),  # e.g. `dumpsys battery unplug` on USB
])
def test_charging_invalidates_the_gauge(status, usb_online, reason):
    energy = energy_of(agent_result(status=status, usb_online=usb_online), gauge(100_000, 300_000),
                       charging_suspended=False)

    assert energy.validity == "invalid: charging"
    assert reason in energy.reason and "power.battery_input.suspended" in energy.reason
    assert energy.energy_per_inference_j is None and energy.gross_power_mw is None
    assert energy.method == "battery-gauge"  # what would have measured, not a number


@pytest.mark.parametrize("status", ["Discharging", "Not charging", "Full"])
def test_suspended_charging_makes_the_gauge_valid_with_the_cable_in(status):
    energy = energy_of(agent_result(status=status, usb_online="1"), gauge(100_000, 300_000),
                       charging_suspended=True)

    assert energy.validity == "valid" and energy.energy_per_inference_j == pytest.approx(0.16)


def test_a_suspension_that_took_effect_after_the_before_snapshot_counts():
    result = agent_result(status="Charging", status_after="Discharging", usb_online="1", suspended="true")

    assert energy_of(result, gauge(100_000, 300_000)).validity == "valid"


def test_a_device_that_ignores_the_suspension_is_still_charging():
    energy = energy_of(agent_result(status="Charging", usb_online="1", suspended="true"), gauge(100_000, 300_000),
                       charging_suspended=True)

    assert energy.validity == "invalid: charging" and "was set but had no effect" in energy.reason
    assert "still Charging" in energy.reason


@pytest.mark.parametrize(("recorded", "asked", "validity"), [
    ("true", False, "valid"),  # suspended on the device by hand
    ("false", True, "invalid: charging"),  # the host's setprop did not take
    ("", True, "valid"),  # the agent could not read the property: the host's word counts
    ("", False, "invalid: charging"),
])
def test_what_the_agent_read_on_the_device_beats_what_the_host_asked(recorded, asked, validity):
    result = agent_result(status="Not charging", usb_online="1", suspended=recorded)

    assert energy_of(result, gauge(100_000, 300_000), charging_suspended=asked).validity == validity


def test_batteryservice_after_dumpsys_battery_unplug_is_not_believed():
    lines = ["runner.status=ok", f"runner.start_uptime_s={RUN_START_S}", f"runner.end_uptime_s={RUN_END_S}"]
    for prefix in ("before", "after"):
        lines += [f"{prefix}.battery.path=dumpsys", f"{prefix}.battery.status=Discharging",
                  f"{prefix}.battery.updates_stopped=1", f"{prefix}.supply.dumpsys-usb.type=USB",
                  f"{prefix}.supply.dumpsys-usb.online=false"]
    result = parse_agent_result("\n".join(lines) + "\n")

    energy = energy_of(result, gauge(100_000, 300_000))

    assert energy.validity == "invalid: charging state unknown"


def test_current_flowing_in_during_the_idle_baseline_is_charging():
    samples = gauge(-100_000, -300_000)
    samples[:2] = [EnergySample(s.uptime_s, "idle", 400_000, s.voltage_now) for s in samples[:2]]

    energy = energy_of(agent_result(suspended="true"), samples)

    assert energy.validity == "invalid: charging" and "2 of 12 idle samples" in energy.reason


def test_current_flowing_in_during_the_run_is_charging():
    samples = gauge(-100_000, -300_000)
    samples = [s if s.phase == "idle" or i % 3 else EnergySample(s.uptime_s, "run", 50_000, s.voltage_now)
               for i, s in enumerate(samples)]

    energy = energy_of(agent_result(status="Not charging"), samples)

    assert energy.validity == "invalid: charging"
    assert "flowed into the battery" in energy.reason and energy.energy_per_inference_j is None


def test_unknown_charging_state_gives_no_number():
    result = parse_agent_result(
        f"runner.status=ok\nrunner.start_uptime_s={RUN_START_S}\nrunner.end_uptime_s={RUN_END_S}\n"
    )

    energy = energy_of(result, gauge(100_000, 300_000))

    assert energy.validity == "invalid: charging state unknown" and energy.energy_per_inference_j is None


def test_too_few_samples_gives_no_number():
    samples = [s for s in gauge(100_000, 300_000, interval_s=1.0) if s.phase == "run" or s.uptime_s < 98]

    energy = energy_of(agent_result(), samples)

    assert energy.validity == "invalid: too few samples"
    assert energy.energy_per_inference_j is None and energy.idle_power_mw is None
    assert (energy.idle_samples, energy.run_samples) == (1, 3)


def test_a_run_no_costlier_than_idle_has_powers_but_no_energy():
    energy = energy_of(agent_result(), gauge(200_000, 199_000))

    assert energy.validity == "invalid: not above idle"
    assert energy.idle_power_mw == pytest.approx(800) and energy.gross_power_mw == pytest.approx(796)
    assert energy.net_power_mw is None and energy.energy_per_inference_j is None


@pytest.mark.parametrize(("runner_status", "n_inferences", "validity"), [
    ("timeout", 10, "invalid: runner did not finish"),
    ("ok", 0, "invalid: no inferences"),
])
def test_no_number_for_runs_that_did_not_produce_inferences(runner_status, n_inferences, validity):
    energy = energy_of(agent_result(runner_status=runner_status), gauge(100_000, 300_000), n_inferences=n_inferences)

    assert energy.validity == validity and energy.energy_per_inference_j is None and energy.method is None


def test_no_source():
    energy = energy_of(agent_result(source="none"), [])

    assert (energy.method, energy.validity) == (None, "invalid: no energy source")
    assert "neither power rails nor a readable battery gauge" in energy.reason


def test_a_virtual_device_is_simulated_with_the_same_numbers():
    real = energy_of(agent_result(), gauge(100_000, 300_000))
    virtual = energy_of(agent_result(), gauge(100_000, 300_000), is_virtual=True)

    assert (virtual.method, virtual.source) == ("simulated", "battery-gauge")
    assert virtual.energy_per_inference_j == real.energy_per_inference_j
    assert virtual.to_dict()["method"] == "simulated"
    assert virtual.to_dict()["energy_per_inference_mj"] == pytest.approx(160)


# ---------------------------------------------------------------- rails

# The runner announces its measured runs at 100 s (the agent dumps the rails then): 1 s of start-up.
RAIL_UPTIMES = {"idle_start": (96.9, 97.1), "run_start": (98.9, 99.1), "measured_start": (99.9, 100.1),
                "run_end": (102.9, 103.1)}


def hal2_dump(counters_mws: dict[str, float], *, delta: bool = False) -> str:
    """The AIDL default implementation's dump: consumers (ignored) then the energy meter."""
    lines = ["", "============= PowerStats HAL 2.0 energy consumers ==============",
             "%-12s : %14.2f mWs" % ("CPU_CLUSTER", 5.0), "  %10d - %14.2f mWs" % (10123, 5.0),
             "========== End of PowerStats HAL 2.0 energy consumers ==========",
             "", "============= PowerStats HAL 2.0 energy meter =============="]
    if delta:
        lines.append("Elapsed time: 1000 ms")
        lines.append("  %32s   %18s (%14s)" % ("Channel", "Cumulative Energy", "Delta   "))
        lines += ["  %32s   %14.2f mWs (%14.2f)" % (name, value, 1.0) for name, value in counters_mws.items()]
    else:
        lines.append("  %32s   %18s" % ("Channel", "Cumulative Energy"))
        lines += ["  %32s   %14.2f mWs" % (name, value) for name, value in counters_mws.items()]
    lines.append("========== End of PowerStats HAL 2.0 energy meter ==========")
    return "\n".join(lines) + "\n"


def rails_files(idle_start, run_start, measured_start, run_end):
    return {"rails_idle_start.txt": hal2_dump(idle_start), "rails_run_start.txt": hal2_dump(run_start),
            "rails_measured_start.txt": hal2_dump(measured_start), "rails_run_end.txt": hal2_dump(run_end)}


def test_rails_are_preferred_over_the_gauge_and_stay_valid_while_charging():
    result = agent_result(status="Charging", usb_online="1", rails_uptimes=RAIL_UPTIMES, source="power-rails")
    # Two rails: 300 + 100 mW idle over 2 s; 700 + 300 mW over the 1 s start-up; 900 + 700 mW over
    # the 3 s of measured runs.
    rails = rails_files({"[SOC]:SoC": 10_000.0, "[CPU]:CPU": 20_000.0},
                        {"[SOC]:SoC": 10_600.0, "[CPU]:CPU": 20_200.0},
                        {"[SOC]:SoC": 11_300.0, "[CPU]:CPU": 20_500.0},
                        {"[SOC]:SoC": 14_000.0, "[CPU]:CPU": 22_600.0})

    energy = energy_of(result, gauge(100_000, 300_000), rails, measured_s=2.0)

    assert (energy.method, energy.validity) == ("power-rails", "valid")
    assert energy.rails == ("[CPU]:CPU", "[SOC]:SoC")
    assert energy.idle_power_mw == pytest.approx(400)
    assert energy.gross_power_mw == pytest.approx(1600)
    # 1200 mW net over the runner's own 2 s of measured runs, over 10 inferences
    assert energy.energy_per_inference_j == pytest.approx(0.24)
    # The start-up apart: 600 mW net over its 1 s.
    assert (energy.startup_energy_j, energy.startup_duration_s) == (pytest.approx(0.6), pytest.approx(1.0))
    assert any("rails measure the load itself" in note for note in energy.notes)
    by_stem = {name.removesuffix(".txt"): text for name, text in rails.items()}
    assert energy_of(result, [], by_stem) == energy


def test_unusable_rails_fall_back_to_the_gauge_and_say_so():
    result = agent_result(rails_uptimes=RAIL_UPTIMES, source="power-rails")
    empty = {name: "Can't find service\n" for name in rails_files({}, {}, {}, {})}

    energy = energy_of(result, gauge(100_000, 300_000), empty)

    assert energy.method == "battery-gauge" and energy.validity == "valid"
    assert any("power rails unusable" in note for note in energy.notes)


def test_rail_counters_going_backwards_give_no_number():
    result = agent_result(rails_uptimes=RAIL_UPTIMES, source="power-rails")
    rails = rails_files({"[SOC]:SoC": 5000.0}, {"[SOC]:SoC": 6000.0}, {"[SOC]:SoC": 6500.0}, {"[SOC]:SoC": 10.0})

    energy = energy_of(result, [], rails)

    assert (energy.method, energy.validity) == ("power-rails", "invalid: bad samples")
    assert "went backwards" in energy.reason


def test_a_short_idle_window_between_rail_dumps_is_too_few_samples():
    uptimes = dict(RAIL_UPTIMES, run_start=(97.2, 97.3))
    result = agent_result(rails_uptimes=uptimes, source="power-rails")
    rails = rails_files({"[SOC]:SoC": 5000.0}, {"[SOC]:SoC": 5100.0}, {"[SOC]:SoC": 5500.0}, {"[SOC]:SoC": 9000.0})

    assert energy_of(result, [], rails).validity == "invalid: too few samples"


def test_hal_dump_formats():
    counters = {"[VSYS_PWR_DISPLAY]:Display": 123456.78, "[S2M_VDD_CPUCL2]:CPU(BIG)": 0.5}
    assert parse_rail_energy_mws(hal2_dump(counters)) == counters
    assert parse_rail_energy_mws(hal2_dump(counters, delta=True)) == counters
    hal1 = ("\n============= PowerStats HAL 1.0 rail energy data ==============\n"
            + "  %14s   %18s   %18s\n" % ("Subsys", "Rail", "Cumulative Energy")
            + "  %14s   %18s   %14.2f mWs\n" % ("Modem", "VSYS_PWR_MODEM", 4242.5)
            + "========== End of PowerStats HAL 1.0 rail energy data ==========\n")
    assert parse_rail_energy_mws(hal1) == {"[VSYS_PWR_MODEM]:Modem": 4242.5}
    assert parse_rail_energy_mws("Can't find service: android.hardware.power.stats.IPowerStats/default\n") == {}


# ---------------------------------------------------------------- a baseline lent by an earlier cell

LATER_S = 60.0  # the borrowing run starts this much later on the device's clock


def lent_baseline(result=None, samples=None, rails=None):
    """What a first cell (gauge, 400 mW idle) lends to the next ones."""
    result = result or agent_result(suspended="true")
    energy = energy_of(result, samples or gauge(100_000, 300_000), rails)
    assert energy.validity == "valid" and energy.idle_source == "this cell"
    return IdleBaseline.from_cell(energy, result, True, taken_in="cell first")


def later_run(current_ua=300_000, **kwargs):
    """A later cell's run (no idle phase): the runner window moved LATER_S on, gauge run samples only."""
    result = agent_result(**{"suspended": "true", **kwargs}, start_s=RUN_START_S + LATER_S, end_s=RUN_END_S + LATER_S)
    samples = [EnergySample(s.uptime_s + LATER_S, "run", s.current_now, s.voltage_now)
               for s in gauge(100_000, current_ua) if s.phase == "run"]
    return result, samples


def test_a_borrowed_baseline_gives_the_same_numbers_and_says_where_it_came_from():
    baseline = lent_baseline()
    result, samples = later_run()

    energy = energy_of(result, samples, idle_baseline=baseline, idle_baseline_max_age_s=600)

    assert (energy.validity, energy.reason) == ("valid", None)
    assert energy.idle_power_mw == pytest.approx(400) and energy.net_power_mw == pytest.approx(800)
    assert energy.energy_per_inference_j == pytest.approx(0.16)
    assert (energy.idle_source, energy.idle_age_s) == ("cell first", pytest.approx(LATER_S))
    assert (energy.idle_samples, energy.idle_duration_s) == (12, pytest.approx(2.75))  # the lender's
    document = energy.to_dict()
    assert document["idle_source"] == "cell first" and document["idle_age_s"] == pytest.approx(LATER_S)
    # A cell that measured its own says so, and lends nothing it borrowed.
    own = energy_of(agent_result(suspended="true"), gauge(100_000, 300_000))
    assert (own.idle_source, own.idle_age_s) == ("this cell", None)
    assert IdleBaseline.from_cell(energy, result, True, taken_in="cell later") is None


@pytest.mark.parametrize(("later", "max_age_s", "problem"), [
    (dict(thermal=2), 600, "the thermal status was 0 then and 2 now"),
    (dict(suspended="false", usb_online="1", status="Charging"), 600, "charging was 'suspended"),
    (dict(), 30, "it is 60 s old, more than the 30 s"),
])
def test_a_borrowed_baseline_does_not_hold_when_the_device_changed_or_it_expired(later, max_age_s, problem):
    result, samples = later_run(**later)

    energy = energy_of(result, samples, idle_baseline=lent_baseline(), idle_baseline_max_age_s=max_age_s,
                       charging_suspended=True)

    assert energy.validity == "invalid: idle baseline not valid here"
    assert problem in energy.reason and "cell first" in energy.reason
    assert energy.energy_per_inference_j is None and energy.idle_power_mw is None
    assert energy.idle_source == "cell first"


def test_with_a_cooldown_the_thermal_status_it_ended_at_counts():
    """Both cells waited for their device to cool from status 2: their idle and run phases began
    at status 0, which is what the baseline depends on."""
    baseline = lent_baseline(agent_result(suspended="true", thermal=2, cooled_to=0))
    result, samples = later_run(thermal=2, cooled_to=0)

    assert baseline.conditions.thermal_status == 0
    assert energy_of(result, samples, idle_baseline=baseline).validity == "valid"
    hot, samples = later_run(thermal=2, cooled_to=1)  # the cool-down gave up at status 1
    assert energy_of(hot, samples, idle_baseline=baseline).validity == "invalid: idle baseline not valid here"


def test_a_baseline_from_before_a_reboot_does_not_hold():
    result = agent_result(suspended="true", start_s=5.0, end_s=7.0)  # uptime started again
    samples = [EnergySample(5.0 + i * 0.25, "run", 300_000, 4_000_000) for i in range(9)]

    energy = energy_of(result, samples, idle_baseline=lent_baseline())

    assert energy.validity == "invalid: idle baseline not valid here" and "rebooted" in energy.reason


def test_a_baseline_measured_otherwise_does_not_hold():
    result, samples = later_run()
    flipped = [EnergySample(s.uptime_s, s.phase, -s.current_now, s.voltage_now) for s in samples]
    from_rails = lent_baseline(agent_result(suspended="true", rails_uptimes=RAIL_UPTIMES, source="power-rails"),
                               rails=rails_files({"[SOC]:SoC": 0.0}, {"[SOC]:SoC": 800.0}, {"[SOC]:SoC": 1200.0},
                                                 {"[SOC]:SoC": 5000.0}))

    sign = energy_of(result, flipped, idle_baseline=lent_baseline())
    source = energy_of(result, samples, idle_baseline=from_rails)

    assert sign.validity == source.validity == "invalid: idle baseline not valid here"
    assert "current sign flipped" in sign.reason and "power-rails" in source.reason


def test_rails_with_a_borrowed_baseline_need_no_idle_dump():
    rails = {"[SOC]:SoC": 0.0}
    baseline = lent_baseline(agent_result(suspended="true", rails_uptimes=RAIL_UPTIMES, source="power-rails"),
                             rails=rails_files(rails, {"[SOC]:SoC": 800.0}, {"[SOC]:SoC": 1200.0}, {"[SOC]:SoC": 5000.0}))
    uptimes = {dump: (a + LATER_S, b + LATER_S) for dump, (a, b) in RAIL_UPTIMES.items() if dump != "idle_start"}
    result = agent_result(suspended="true", rails_uptimes=uptimes, source="power-rails",
                          start_s=RUN_START_S + LATER_S, end_s=RUN_END_S + LATER_S)
    later = {"rails_run_start.txt": hal2_dump({"[SOC]:SoC": 9000.0}),
             "rails_measured_start.txt": hal2_dump({"[SOC]:SoC": 10_000.0}),
             "rails_run_end.txt": hal2_dump({"[SOC]:SoC": 14_500.0})}

    energy = energy_of(result, [], later, idle_baseline=baseline)

    # 400 mW idle lent; 4500 mWs over the 3 s of measured runs: 1500 mW gross, 1100 net, x 2 s / 10.
    assert (energy.method, energy.validity) == ("power-rails", "valid"), energy.reason
    assert energy.idle_power_mw == pytest.approx(400) and energy.gross_power_mw == pytest.approx(1500)
    assert energy.energy_per_inference_j == pytest.approx(0.22)
    assert energy.idle_source == "cell first"
