"""The corpus of real device captures (tests/data/devices) and what each one's expected.toml says,
checked against a passport read from its replay or parsed from its files."""

from __future__ import annotations

import os
import tomllib
from contextlib import contextmanager
from pathlib import Path

from tests.support.devices import virtual_devices_on

CORPUS = Path(__file__).resolve().parent.parent / "data" / "devices"
CAPTURES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())

# expected.toml key -> where the passport has it (a passport as a dict, Passport.to_dict()).
IDENTITY = {
    "manufacturer": lambda p: p["props"].get("ro.product.manufacturer"),
    "brand": lambda p: p["props"].get("ro.product.brand"),
    "model": lambda p: p["props"].get("ro.product.model"),
    "release": lambda p: p["build"]["release"],
    "fingerprint_release": lambda p: p["build"]["fingerprint_release"],
    "sdk": lambda p: p["build"]["sdk"],
    "abi": lambda p: p["abi"],
    "soc": lambda p: p["build"]["soc"],
    "has_soc_props": lambda p: "ro.soc.model" in p["props"],
}
def reported(passport: dict) -> dict:
    """What `dumpsys battery` said: after `dumpsys battery unplug/set` the passport keeps that
    apart (`overridden`), as values not to be trusted."""
    battery = passport["battery"]
    return battery["overridden"] if battery["updates_stopped"] else battery


BATTERY = {
    "battery_level": lambda p: reported(p)["level_pct"],
    "battery_status": lambda p: reported(p)["status_code"],
    "plugged": lambda p: bool(p["battery"]["plugged"]),
    "updates_stopped": lambda p: p["battery"]["updates_stopped"],
    "plugged_reported": lambda p: bool(p["battery"]["overridden"]["plugged"]),
}
THERMAL = {
    "thermal_status": lambda p: p["thermal"]["status"],
    "thermal_hal": lambda p: p["thermal"]["hal"],
    "thermal_hal_version": lambda p: int(p["thermal"]["hal_version"]),
    "ibat_amps": lambda p: p["thermal"]["not_temperatures"]["ibat"]["value"],
    "vbat_volts": lambda p: p["thermal"]["not_temperatures"]["vbat"]["value"],
}
# Keys the passport does not carry, each checked elsewhere or left to phase 2 of issue 13.
CHECKED_ELSEWHERE = {
    "device": "the tombstone's fingerprint (raw/): no property of this capture",
    "model_prompt": "a shell prompt in raw/: no property of this capture",
    "truncated": "describes the source excerpt",
    "encoding": "tests/captures/test_corpus_parsing.py (getprop saved by Windows)",
    "line_endings": "tests/captures/test_corpus_parsing.py (CRLF of old adbd's pty)",
    "multiline_props": "tests/captures/test_corpus_parsing.py (values over several lines)",
    "battery_voltage_mv": "moves with the simulation: tests/captures/test_corpus_replay.py, within a tolerance",
    "wakefulness": "dumpsys power: tests/captures/test_corpus_replay.py",
    "is_powered": "dumpsys power: tests/captures/test_corpus_replay.py",
    "dumpsys_batterystats_denied": "tests/captures/test_corpus_replay.py",
    "battery_sysfs_readable": "tests/captures/test_corpus_replay.py",
    "current_now_ua": "the gauge's node moves with the load: tests/virtual/test_replay.py checks the value at the start",
    "current_now_ma": "Samsung's `current now:` moves with the load: tests/virtual/test_replay.py",
    "samsung_current_now": "passport battery.current_now_ma: test_corpus_parsing.py",
    "voltage_now_uv": "the gauge's node moves with the load: tests/virtual/test_replay.py",
    "current_unit": "phase 2 (energy unit from plausible power)",
    "current_sign": "phase 2 (energy unit and sign)",
    "charging": "checked on its own (true / false / unknown)",
}


def expected(capture: str) -> dict:
    return tomllib.loads((CORPUS / capture / "expected.toml").read_text(encoding="utf-8"))


def unknown_keys(facts: dict) -> list[str]:
    """expected.toml keys no check here knows: a new one must be given a check first."""
    known = IDENTITY.keys() | BATTERY.keys() | THERMAL.keys() | CHECKED_ELSEWHERE.keys()
    return [key for key in facts if key not in known]


def mismatches(passport: dict, facts: dict, groups: list[dict]) -> dict[str, tuple]:
    """key -> (expected, passport's) for every fact of `groups` the passport has otherwise."""
    wrong = {}
    for group in groups:
        for key, read in group.items():
            if key in facts:
                try:
                    actual = read(passport)
                except (KeyError, TypeError) as e:
                    actual = f"missing ({e!r})"
                if actual != facts[key]:
                    wrong[key] = (facts[key], actual)
    return wrong


@contextmanager
def replayed(adb_server, capture: str | os.PathLike):
    """A virtual device answering as a capture (a corpus name or a directory), deleted after."""
    with virtual_devices_on(adb_server, capture=CORPUS / capture) as [device]:
        yield device
