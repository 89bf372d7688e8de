"""What the host hands the agent: numbers in the agent's grammar, and flags from its energy verdicts."""

import re
from types import SimpleNamespace

import pytest

from harness.bench.energy_window import INVALID_CHARGING, INVALID_CHARGING_UNKNOWN
from harness.bench.agent import agent_argv, plain_number
from harness.bench.outcome import cell_flags
from harness.bench.settings import BenchSettings
from harness.store.records import Energy
from harness.errors import UsageError

# android_app/agent.sh is_decimal: digits, at most one dot, neither first nor last.
AGENT_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


@pytest.mark.parametrize("value", [0, 2, 2.5, 0.25, 2.0004, 0.0001, 1e-7, 35.0, 1234567.125])
def test_numbers_reach_the_agent_in_its_grammar_and_to_a_thousandth(value):
    text = plain_number(value)
    assert AGENT_DECIMAL.fullmatch(text), text
    assert abs(float(text) - value) <= 0.0005


def test_every_numeric_option_of_the_agent_argv_is_a_plain_decimal():
    settings = BenchSettings(cooldown_s=0.0001, cooldown_temp_c=35.0004, idle_baseline_s=2.0004, timeout_s=3.5)
    argv = agent_argv(settings, "/data/local/tmp/squeezebench/cells/x", ["runner"])
    options = argv[argv.index("--out") + 2 : argv.index("--")]
    values = dict(zip(options[::2], options[1::2]))
    assert values and all(AGENT_DECIMAL.fullmatch(v) for v in values.values()), values


def test_a_negative_cooldown_temperature_is_refused_before_any_device_sees_it():
    with pytest.raises(UsageError, match="--cooldown-temp"):
        BenchSettings(cooldown_temp_c=-5)


@pytest.mark.parametrize(("validity", "flagged"), [(INVALID_CHARGING, True), (INVALID_CHARGING_UNKNOWN, False),
                                                   ("valid", False)])
def test_only_a_run_known_to_be_charging_is_flagged_charging(validity, flagged):
    energy = Energy(method="battery-gauge", source="battery-gauge", validity=validity, reason=None,
                    energy_per_inference_j=None, idle_power_mw=None, gross_power_mw=None, net_power_mw=None,
                    run_duration_s=None, idle_duration_s=None, n_inferences=10, window="run", idle_samples=8,
                    run_samples=8, sample_interval_ms=250)  # fmt: skip
    flags = cell_flags(SimpleNamespace(flags={}), "cpu", None, energy, None, None)
    assert ("charging" in flags) == flagged
