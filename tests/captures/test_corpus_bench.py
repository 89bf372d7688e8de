"""A full `squeezebench bench` of a small model on every real capture's replay: it runs to the end
and its bench.json carries that phone's passport and an energy decision.

The energy decisions asserted here are what the CURRENT code decides (phase 1 of issue 13). Phase
2 changes the energy rules; PHASE_2 below is the one place that says, per capture, what its
decision must become and why, so that phase 2 edits CURRENT_DECISIONS for exactly those."""

from __future__ import annotations

import json

import pytest

from tests.captures.support import CAPTURES, expected, mismatches, replayed
from tests.captures.test_corpus_replay import groups_to_check
from tests.support.cli import run_cli

# What the current code decides on every replay: the simulation's current is µA, negative while
# discharging, and charging suspension always works on a virtual device.
DEFAULT_DECISION = {"method": "simulated", "validity": "valid", "normalisation": ["current sign flipped"]}
CURRENT_DECISIONS = {
    # The capture says the gauge reports mA (capture.toml current_unit): the replay's gauge does
    # too, and the |current| <= 1000 guess happens to hold for a 1-thread run of a tiny model.
    "samsung-sm-s9110-android16": {**DEFAULT_DECISION, "normalisation": ["current mA->µA", "current sign flipped"]},
}
PHASE_2 = {
    "samsung-sm-s9110-android16": "unit from plausible power (|I x V| 0.05-20 W), not |I| <= 1000: a GPU or "
                                  "4-thread run draws > 1000 mA and would be read as µA (issue 13 item 3)",
    "google-pixel11pro-grizzly-android17": "held at a charge limit (status 4 on AC): suspension must be verified "
                                           "by a sustained discharge (item 4); the replay must be able to ignore "
                                           "power.battery_input.suspended as such a phone may",
    "google-pixel3a-android9": "Not charging with charge_disable on USB (item 4), as above",
    "samsung-sm-a266b-android16": "Full at 100% on USB: the not-suspended rules must reject Full with a "
                                  "charger online (item 4)",
    "honor-hwcol-emui-unknown-release": "UPDATES STOPPED: energy must not trust BatteryService (item 11; the "
                                        "passport already keeps those values apart)",
    "mediatek-tb8168p1-axxs-android13": "mWakefulness=Asleep: svc power stayon for the queue, wakefulness "
                                        "recorded (item 8)",
    "xiaomi-aurora-custom-android16": "thermal status 0 with cached CPU temperatures of 79-89 °C: clocks "
                                      "capped at status 0 must be flagged (item 7)",
}
# Every replay's energy comes from a 1-2 s run and a 1.25 s idle window: phase 2's "enough
# distinct gauge readings and a long enough window" (item 6) makes these not valid unless
# longer; and start-up energy is to be reported apart from per-inference energy (item 5).
PHASE_2_EVERYWHERE = ("items 5 and 6: start-up energy apart; too few distinct gauge readings in a 1-2 s window")


@pytest.mark.slow
@pytest.mark.parametrize("name", CAPTURES)
def test_bench_runs_to_a_passport_and_an_energy_decision(adb_server, tiny_tflite, tmp_path, name):
    with replayed(adb_server, name) as started:
        done = run_cli("bench", tiny_tflite, "--device", started.serial, "--json", "--out", tmp_path / "bench",
                       "--runs", "20", "--idle-baseline", "1.25", "--adb-server", str(adb_server))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "ok", document["reason"]
    on_disk = json.loads((tmp_path / "bench" / "bench.json").read_text())
    passport = on_disk["device"]
    assert passport["props"]["ro.squeezebench.capture"] == name and "virtual" in on_disk["flags"]
    assert mismatches(passport, expected(name), groups_to_check(started.parts)) == {}
    assert on_disk["runner"]["kind"] == "bundled-litert-python"
    energy = on_disk["energy"]
    decision = {key: energy[key] for key in DEFAULT_DECISION}
    assert decision == CURRENT_DECISIONS.get(name, DEFAULT_DECISION), (decision, PHASE_2.get(name, PHASE_2_EVERYWHERE))
    assert energy["energy_per_inference_mj"] > 0
