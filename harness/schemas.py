"""Every document squeezebench writes and reads, in one place: its kind, its current version, its
format history and the migrations that bring older versions up to date (asv's `update_to_N`).

A reader names the schema it expects and goes through `Schema.load` (JSON files) or
`Schema.upgrade` (documents parsed from TOML); both refuse a document of another kind, a version
that is not a positive integer, or a version newer than this squeezebench understands, in one line
that says what to do. Adding a field needs no new version; renaming, removing or changing the
meaning of one does, with its migration added here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from harness.errors import ResultsError
from harness.jsonfile import read_json

Migration = Callable[[dict], dict]


@dataclass(frozen=True)
class Schema:
    kind: str
    version: int
    history: tuple[str, ...]  # one line per version, oldest first
    migrations: Mapping[int, Migration] = field(default_factory=lambda: MappingProxyType({}))
    what: str = "file"  # what a person calls it, for errors

    def __post_init__(self):
        assert len(self.history) == self.version, f"{self.kind}: one history line per version"
        assert set(self.migrations) == set(range(2, self.version + 1)), f"{self.kind}: a migration per bump"

    def stamp(self) -> dict:
        """The first two fields of every document of this kind."""
        return {"kind": self.kind, "schema_version": self.version}

    def load(self, path: Path) -> dict:
        """Read a JSON document of this kind, upgraded in memory to the current version."""
        return self.upgrade(read_json(path), path)

    def upgrade(self, document, source: Path | str, *, kind_required: bool = True) -> dict:
        """Check an already parsed document and bring it up to the current version.
        `kind_required=False` for hand-written files (device profiles) that carry only a version."""
        if not isinstance(document, dict) or (kind_required and document.get("kind") != self.kind):
            raise ResultsError(f"{source}: not a {self.kind} document ({self.what})", "point squeezebench at a file it wrote")
        version = document.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ResultsError(f"{source}: schema_version missing or not a positive integer", "the file is damaged")
        if version > self.version:
            raise ResultsError(
                f"{source}: schema_version {version} is newer than this squeezebench understands ({self.version})",
                "upgrade squeezebench to read it",
            )
        while version < self.version:
            version += 1
            document = self.migrations[version](document)
            document["schema_version"] = version
        return document


CONVERSION = Schema(
    "squeezebench.conversion", 1, what="conversion document (convert.json)",
    history=(
        "1 - squeezebench 0.1.0: model, data, converter versions, reference_level, levels[] with size, "
        "gzip size, ratios to the reference, sha256, inputs/outputs, op_counts, conversion_s, cached, "
        "accuracy, fidelity, details, notes, reference_only; added since without a bump: levels[].quality "
        "(harness/convert/quality.py), model.quality_task, model.source, model.licence",
    ),
)  # fmt: skip

# What energy per inference covered before bench/run format 2: the runner's whole life (model
# load, delegate init, warm-up and measured runs) divided by every run, so it changed with --runs.
# Since, it is the measured runs alone, the start-up apart (harness/bench/energy_window.py).
WHOLE_LIFE_ENERGY_WINDOW = "runner's whole life (start-up and warm-up included) divided by every run: format 1"


def _name_energy_window(energy) -> None:
    if isinstance(energy, dict) and "window" not in energy:
        energy["window"] = WHOLE_LIFE_ENERGY_WINDOW


def _bench_update_to_2(document: dict) -> dict:
    _name_energy_window(document.get("energy"))
    return document


def _run_update_to_2(document: dict) -> dict:
    for cell in document.get("cells") or []:
        _name_energy_window((cell.get("summary") or {}).get("energy"))
    return document


BENCH = Schema(
    "squeezebench.bench", 2, what="benchmark document (bench.json)",
    history=(
        "1 - status, reason, model, settings, runner, device (passport), latency_us, warmup_us, init_us, "
        "first_inference_us, memory_mb, energy, delegation, thermal, flags, raw, parsed, agent, timing",
        "2 - energy per inference over the measured runs only, start-up apart (energy.window says which; "
        "energy.n_inferences counts measured runs, no longer the warm-up); format 1 energy is named as "
        "the whole runner life by the migration",
    ),
    migrations=MappingProxyType({2: _bench_update_to_2}),
)  # fmt: skip

RUN = Schema(
    "squeezebench.run", 2, what="run record (run.json)",
    history=("1 - spec, host, devices (passports), models (conversion summaries), cells with their summaries",
             "2 - cells' summary.energy as bench.json 2 (measured runs only, energy.window)"),
    migrations=MappingProxyType({2: _run_update_to_2}),
)  # fmt: skip

REPORT = Schema(
    "squeezebench.report", 1, what="report export (report.json)",
    history=("1 - runs, cells: one flat record per cell, columns as in the CSV",),
)  # fmt: skip

RUNNER_REGISTRY = Schema(
    "squeezebench.runners", 1, what="runner registry",
    history=("1 - runners: {abi: {path, sha256, registered_utc, source_path}}; added since without a bump: "
             "source_url instead of source_path for a runner downloaded by `runner fetch`",),
)  # fmt: skip

DEVICE_PROFILE = Schema(
    "squeezebench.device-profile", 1, what="device profile",
    history=("1 - kind (virtual | phone), name, description, build, cpu, power, battery, thermal / match, tuning; "
             "added since without a bump: battery.gauge_refresh_s, thermal.throttle_start_c, throttle_full_c, "
             "throttle_min_fraction",),
)  # fmt: skip

VIRTUAL_DEVICE = Schema(
    "squeezebench.virtual-device", 1, what="virtual device record (device.json)",
    history=("1 - serial, port, pid, profile, adb_server, unauthorized, storage_mb, started_at; added since "
             "without a bump: capture, parts (a replayed capture: its directory, and each part's state)",),
)  # fmt: skip

CAPTURE = Schema(
    "squeezebench.capture", 1, what="device capture (capture.toml)",
    history=("1 - shell_v2, denied, missing, errors, current_unit, current_sign, notes, properties, "
             "captured_utc, captured_with, serial (harness/device/capture.py, docs/captures.md); added since "
             "without a bump: charging_suspend_works",),
)  # fmt: skip

VIRTUAL_SYSTEM_STATE = Schema(
    "squeezebench.virtual-system-state", 1, what="virtual device's system state",
    history=("1 - settings changed from their defaults, installed packages",),
)  # fmt: skip

VIRTUAL_OWNER = Schema(
    "squeezebench.virtual-owner", 1, what="virtual device's owner (owner.json)",
    history=("1 - pid, start_ticks, run_id, run_dir, grace_s (harness/virtual/ownership.py)",),
)  # fmt: skip

IDLE_BASELINE = Schema(
    "squeezebench.idle-baseline", 1, what="idle baseline kept for the next run on a device",
    history=("1 - device, identity, host_boot_id, held_since_s, settings_key, baseline, last_conditions "
             "(harness/sweep/idle_baselines.py)",),
)  # fmt: skip

ALL = (CONVERSION, BENCH, RUN, REPORT, RUNNER_REGISTRY, DEVICE_PROFILE, VIRTUAL_DEVICE, CAPTURE,
       VIRTUAL_SYSTEM_STATE, VIRTUAL_OWNER, IDLE_BASELINE)
