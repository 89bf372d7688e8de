"""harness.bench.clocks: clocks.csv and cpufreq caps flagged whatever the thermal status."""

from __future__ import annotations

from harness.bench.agent_result import parse_agent_result
from harness.bench.clocks import clocks_of_run, parse_clock_samples


def result_with_caps(scaling_max_khz: int) -> object:
    lines = ["runner.status=ok", "taskset.cpus_online=0-7"]
    for prefix in ("before", "after"):
        lines.append(f"{prefix}.thermal.status=0")
        for cpu in range(8):
            big = cpu >= 4
            lines += [f"{prefix}.cpu{cpu}.max_freq_khz={2_800_000 if big else 1_800_000}",
                      f"{prefix}.cpu{cpu}.scaling_max_khz={scaling_max_khz if big else 1_800_000}",
                      f"{prefix}.cpu{cpu}.policy={4 if big else 0}"]
    return parse_agent_result("\n".join(lines) + "\n")


def test_a_cap_on_the_runners_cores_is_flagged_at_thermal_status_0():
    csv = "uptime_s,cpu4,cpu5\n1.0,1400000,1400000\n1.25,1500000,\n1.5,14"  # cut mid-line: dropped
    clocks = clocks_of_run(result_with_caps(1_400_000), csv, "30")

    assert clocks.cores == (4, 5) and list(clocks.policies) == ["policy4"]
    assert clocks.capped == ("policy4 (cpu4,5,6,7) capped at 1400000 kHz before, 1400000 kHz after "
                             "of 2800000 kHz",)
    assert clocks.run_khz["cpu4"] == {"median": 1_450_000, "min": 1_400_000, "max": 1_500_000, "samples": 2}
    assert clocks.run_khz["cpu5"]["samples"] == 1  # empty while offline


def test_uncapped_little_cores_are_not_flagged():
    clocks = clocks_of_run(result_with_caps(1_400_000), "", "3")
    assert clocks.capped == () and list(clocks.policies) == ["policy0"]
    assert parse_clock_samples("uptime_s,cpu0\n") == {0: []}
