"""Builds realistic run directories through the results-store API, the way `squeezebench run`
does: plan_cells for the cells, per-cell bench.json + latencies.txt, and cell summaries that are
the typed Measurements of BenchResults whose statistics and flags come from the bench layer's
functions."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import stats
from harness.bench.energy_window import INVALID_CHARGING, MEASURED_WINDOW
from harness.bench.outcome import cell_flags
from harness.convert import document as conversion
from harness.device.passport import Passport, compute_flags
from harness.jsonfile import write_json_atomic
from harness.store.cell_files import BENCH_FILE, LATENCIES_FILE
from harness.store.records import (
    BenchResult,
    CellStatus,
    Delegation,
    Energy,
    LatencyStats,
    Measurements,
    MemoryMB,
    RunnerRef,
    Thermal,
)
from harness.store.run import create_run
from harness.sweep.plan import conversion_summary, plan_cells


@dataclass
class FakeDevice:
    serial: str
    manufacturer: str = "Google"
    model: str = "Pixel 7"
    friendly_name: str | None = "Pixel 7"
    virtual: bool = False
    profile: str | None = None
    speed: float = 1.0  # latency multiplier
    energy_method: str | None = "power-rails"
    charging: bool = False
    thermal_status: int = 0
    soc: str = "Tensor G2"

    def passport(self) -> Passport:
        props = {
            "ro.product.manufacturer": self.manufacturer,
            "ro.product.model": self.model,
            "ro.soc.model": self.soc,
            "ro.build.version.release": "14",
            "ro.build.version.sdk": "34",
            "ro.build.type": "user",
            "ro.product.cpu.abi": "arm64-v8a" if not self.virtual else "x86_64",
        }
        if self.virtual:
            props["ro.squeezebench.virtual"] = "1"
            props["ro.squeezebench.profile"] = self.profile or "virtual-default"
        battery = {"level_pct": 80, "status": "charging" if self.charging else "discharging", "temperature_c": 31.5}
        return Passport(
            serial=self.serial, adb_server="127.0.0.1:5999", harness_version="test", props=props, kernel="6.1",
            abi=props["ro.product.cpu.abi"], battery=battery, thermal_status=self.thermal_status, governors={},
            mem_total_kb=8_000_000, cpu_count=8, flags=compute_flags(props, battery, self.thermal_status),
        )  # fmt: skip

    def record(self) -> dict:
        return {
            "passport": self.passport().to_dict(),
            "profile": self.profile,
            "friendly_name": self.friendly_name,
            "runner": {"kind": "bundled-litert-python" if self.virtual else "benchmark_model", "version": "2.3.0"},
        }


@dataclass
class FakeModel:
    name: str
    weights: str = "trained"
    fp32_size_bytes: int = 120_000
    fp32_latency_us: float = 1500.0
    # level -> (size ratio, quality or None, latency factor, conversion status/reason or None)
    levels: dict = field(
        default_factory=lambda: {
            "fp32": (1.0, 0.975, 1.0, None),
            "fp16": (0.5, 0.975, 0.95, None),
            "int8-dynamic": (0.27, 0.972, 0.8, None),
            "int8": (0.26, 0.968, 0.55, None),
            "pruned-75": (None, None, None, "needs training data: give --data with x_train/y_train"),
        }
    )

    def summary(self) -> dict:
        """What run.json keeps of this model's conversion, made by the sweep's own function from a
        conversion document built with the converter's own entries."""
        entries = []
        for level, (ratio, quality, _factor, failure) in self.levels.items():
            ok = failure is None
            size = round(self.fp32_size_bytes * ratio) if ok else None
            accuracy = {"top1": quality, "n": 360} if ok and quality is not None and self.weights != "random" else None
            fidelity = (
                {"top1_agreement": quality, "max_abs_error": 0.01, "cosine_similarity": 0.999, "n": 64}
                if ok and quality is not None and self.weights == "random"
                else None
            )
            entries.append(conversion.level_entry(
                level, conversion.STATUS_OK if ok else "failed", reason=failure, file=f"{level}.tflite" if ok else None,
                sha256=hashlib.sha256(f"{self.name}/{level}".encode()).hexdigest() if ok else None, size_bytes=size,
                gzip_size_bytes=round(size * 0.8) if ok else None, size_ratio_to_fp32=ratio if ok else None,
                gzip_ratio_to_fp32=ratio if ok else None, accuracy=accuracy, fidelity=fidelity,
                op_counts={"CONV_2D": 2},
            ))  # fmt: skip
        model = {"name": self.name, "source_kind": "zoo", "weights": self.weights,
                 "task_accuracy_available": self.weights != "random", "notes": []}
        doc = conversion.new_document(model=model, data={}, converter={}, reference_level="fp32", notes=[])
        doc["levels"] = entries
        return conversion_summary(doc, f"models/{self.name}")


def latency_samples(median_us: float, cv: float, n: int, rng: random.Random) -> list[float]:
    sigma = math.sqrt(math.log(1 + cv * cv))
    return [median_us * math.exp(rng.gauss(0.0, sigma)) for _ in range(n)]


def default_outcome(model: FakeModel, level: str, device: FakeDevice) -> tuple[str, str | None]:
    return "ok", None


def build_run(
    results_root: Path,
    run_id: str,
    devices: list[FakeDevice],
    models: list[FakeModel],
    *,
    seed: int = 1,
    slowdown: float = 1.0,
    cv: float = 0.03,
    n_samples: int = 60,
    with_samples: bool = True,
    outcome=default_outcome,
    finished: bool = True,
    extend=None,
):
    """A run directory as `squeezebench run` leaves it. outcome(model, level, device) -> (status,
    reason) decides each cell; slowdown multiplies every latency (an artificially slowed runner);
    extend(cell, measurements, rng) -> measurements adds what an ok cell measured beyond the basics."""
    rng = random.Random(seed)
    store = create_run(
        results_root, {"models": [m.name for m in models], "levels": "all"}, ["squeezebench", "run"], run_id=run_id
    )
    for device in devices:
        store.update("devices", device.serial, device.record())
    summaries = {m.name: m.summary() for m in models}
    for name, summary in summaries.items():
        store.update("models", name, summary)
    store.add_cells(plan_cells(summaries, {d.serial: ([4], ["cpu"]) for d in devices}))
    by_name, by_serial = {m.name: m for m in models}, {d.serial: d for d in devices}
    for cell in list(store.cells):
        if cell["status"] == "skipped":
            continue
        model, device = by_name[cell["model"]], by_serial[cell["device"]]
        status, reason = outcome(model, cell["level"], device)
        bench = _bench_document(store, cell, model, device, status, reason, rng, slowdown, cv, n_samples, with_samples,
                                extend)
        store.update_cell(
            cell["id"],
            status=status,
            reason=reason,
            attempts=1,
            summary=bench.measurements.to_dict() if status == "ok" else None,
        )
    if finished:
        store.finish()
    return store


def _bench_document(store, cell, model, device, status, reason, rng, slowdown, cv, n_samples, with_samples,
                    extend) -> BenchResult:
    cell_dir = store.contained(cell["dir"])
    cell_dir.mkdir(parents=True, exist_ok=True)
    passport = device.passport()
    result = BenchResult(
        status=CellStatus(status), reason=reason, model={"name": model.name, "level": cell["level"]},
        settings={"threads": cell["threads"], "delegate": cell["delegate"]},
        runner={"kind": device.record()["runner"]["kind"], "version": "2.3.0"}, device=passport.to_dict(),
    )  # fmt: skip
    if status == "ok":
        measured = _measurements(cell, model, device, passport, cell_dir, rng, slowdown, cv, n_samples, with_samples)
        result = replace(result, measurements=extend(cell, measured, rng) if extend else measured)
    write_json_atomic(cell_dir / BENCH_FILE, result.to_dict())
    return result


def _measurements(cell, model, device, passport, cell_dir, rng, slowdown, cv, n_samples, with_samples) -> Measurements:
    _ratio, _quality, factor, _failure = model.levels[cell["level"]]
    median = model.fp32_latency_us * factor * device.speed * slowdown
    samples = latency_samples(median, cv, n_samples, rng)
    summary = stats.summarize_samples(samples)
    if with_samples:
        lines = ["# benchmark_model.py: per-run latency in microseconds", f"warmup {samples[0] * 3:.3f}"] + [
            f"{s:.3f}" for s in samples
        ]
        (cell_dir / LATENCIES_FILE).write_text("\n".join(lines) + "\n")
        latency = LatencyStats(**summary, source="samples")
    else:
        measured = {k: summary[k] for k in ("count", "first", "min", "max", "mean", "std", "median", "p5", "p95")}
        intervals = stats.summary_intervals(summary["mean"], summary["std"], summary["count"])
        latency = LatencyStats(**measured, **intervals, source="runner-summary")
    energy = None
    if device.energy_method:
        energy = Energy(
            method=device.energy_method, source=device.energy_method, validity=INVALID_CHARGING if device.charging else "valid",
            reason="charging" if device.charging else None, energy_per_inference_j=median / 1e6 * (0.9 if not device.virtual else 1.4),
            idle_power_mw=500.0, gross_power_mw=1400.0, net_power_mw=900.0, run_duration_s=2.0, idle_duration_s=2.0,
            n_inferences=n_samples, window=MEASURED_WINDOW, idle_samples=8, run_samples=40, sample_interval_ms=250,
        )  # fmt: skip
    delegation = Delegation("xnnpack", 11, 12, 1, fallback_to_cpu=False, fully_delegated=False)
    thermal = Thermal(device.thermal_status, device.thermal_status, 31.5, 33.0)
    return Measurements(
        latency_us=latency, memory_mb=MemoryMB(3.1, 10.0 + 40 * factor, 12.0 + 40 * factor), energy=energy,
        delegation=delegation, thermal=thermal,
        flags=cell_flags(passport, cell["delegate"], latency, energy, thermal, delegation),
        runner=RunnerRef(kind=device.record()["runner"]["kind"], version="2.3.0"),
    )  # fmt: skip


VIRTUAL = FakeDevice("127.0.0.1:6520", manufacturer="squeezebench", model="virtual", friendly_name="Virtual phone",
                     virtual=True, profile="virtual-default", speed=1.3, energy_method="simulated", soc="host CPU")  # fmt: skip
PIXEL = FakeDevice("28071FDH2000AB", energy_method="power-rails")
CHARGING_PHONE = FakeDevice("R5CT10ABCD", manufacturer="samsung", model="SM-S911B", friendly_name="Galaxy S23",
                            speed=0.8, energy_method="battery-gauge", charging=True, soc="Snapdragon 8 Gen 2")  # fmt: skip
DIGITS = FakeModel("digits-cnn")
MOBILENET = FakeModel(
    "mobilenet_v2", weights="random", fp32_size_bytes=14_000_000, fp32_latency_us=28_000.0,
    levels={"fp32": (1.0, 1.0, 1.0, None), "fp16": (0.5, 1.0, 0.97, None), "int8": (0.27, 0.92, 0.5, None)},
)  # fmt: skip

# Strings that must survive HTML and Markdown as text: markup, table pipes, emphasis, code, newlines.
HOSTILE_MODEL = "<script>alert(1)</script>"
HOSTILE_DEVICE_NAME = "Pixel | 7 *Pro*\n`x` <b>_y_</b>"
FAILED_REASON = "runner exited with code 1: ERROR: op | RESIZE *not* supported\nsecond line `tick`"
