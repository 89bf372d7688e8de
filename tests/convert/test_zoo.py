"""The zoo: what `squeezebench zoo` says about each model, the refusal when a model's wheel was not
fetched, and the real pretrained models through their ladders (slow: LiteRT and the quantizer)."""

from __future__ import annotations

import json
import sys

import pytest

from harness.convert import convert_model, model_wheels
from harness.errors import ExitCode
from tests.support.cli import one_line_error, run_cli


def test_zoo_json_names_domain_weights_source_and_licence_of_every_model():
    done = run_cli("zoo", "--json", check=True)
    entries = {entry["name"]: entry for entry in json.loads(done.stdout)}
    for entry in entries.values():
        assert entry["weights"] in ("pretrained", "random") and entry["source"] and entry["licence"]
    real = [e for e in entries.values() if e["weights"] == "pretrained" and not e["trained_here"]]
    assert {e["domain"] for e in real} == {"vision", "audio"}
    assert {e["domain"] for e in entries.values() if e["weights"] == "pretrained"} >= {"vision", "audio", "text"}
    assert entries["mobilenet_v2"]["weights"] == "random"
    assert entries["iris-landmark"]["needs_fetch"] == ["mediapipe", "scikit-image"]


def test_zoo_table_says_which_weights_are_random():
    table = run_cli("zoo", check=True).stdout
    assert "RANDOM (latency only)" in table.splitlines()[[line.split()[0] for line in table.splitlines() if line]
                                                          .index("mobilenet_v2")]  # fmt: skip


def test_a_zoo_model_whose_wheel_is_not_fetched_is_refused_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZEBENCH_WHEELS", str(tmp_path / "no-wheels"))
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(tmp_path / "cache"))
    done = run_cli("convert", "basic-pitch", "--out", tmp_path / "out")
    one_line_error(done.returncode, done.stderr, ExitCode.BAD_INPUT, "basic-pitch", "not fetched", "zoo --fetch")
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def levels_by_name(doc: dict) -> dict[str, dict]:
    return {entry["level"]: entry for entry in doc["levels"]}


def require_wheels(*names: str) -> None:
    missing = [name for name in names if not model_wheels.is_fetched(name)]
    assert not missing, f"wheels {missing} not fetched: run scripts/setup (squeezebench zoo --fetch)"


@pytest.mark.slow
def test_iris_landmark_int4_is_a_fifth_of_the_file_and_mixed_precision_recovers_quality(tmp_path):
    require_wheels("mediapipe", "scikit-image")
    doc = convert_model("iris-landmark", "all,extended", tmp_path)
    levels = levels_by_name(doc)
    assert list(levels) == ["as-is", "int8-weight", "int4-weight", "int4-weight-b32", "w8a16", "int4-weight-mixed"]
    assert doc["model"]["weights"] == "pretrained" and doc["model"]["licence"] == "Apache-2.0"
    for entry in levels.values():
        assert entry["status"] == "ok", entry["reason"]
        assert entry["quality"]["metric"] == "snr_db" and entry["quality"]["against"] == "as-is outputs"
    int4, mixed = levels["int4-weight"], levels["int4-weight-mixed"]
    assert int4["size_ratio_to_fp32"] <= 0.2
    assert int4["quality"]["value"] < levels["int8-weight"]["quality"]["value"]
    assert mixed["quality"]["value"] > int4["quality"]["value"] and mixed["size_bytes"] > int4["size_bytes"]
    assert mixed["details"]["ai_edge_quantizer"]["kept_in_float"]
    assert int4["details"]["ai_edge_quantizer"]["signature_added"]  # MediaPipe's file has none


@pytest.mark.slow
def test_basic_pitch_is_scored_against_the_pitch_of_its_tones(tmp_path):
    require_wheels("basic-pitch")
    doc = convert_model("basic-pitch", "as-is,int8-weight,w8a16", tmp_path)
    levels = levels_by_name(doc)
    assert all(entry["status"] == "ok" for entry in levels.values())
    reference = levels["as-is"]["quality"]
    assert (reference["metric"], reference["against"], reference["n_samples"]) == (
        "note_accuracy", "ground truth pitch", 24
    )
    assert reference["value"] > 0.9  # the pretrained model hears synthesized tones right
    assert levels["as-is"]["accuracy"] is None  # a posteriorgram has no top-1 class
    assert levels["int8-weight"]["size_ratio_to_fp32"] < 0.6


def test_the_wheels_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZEBENCH_WHEELS", str(tmp_path))
    assert model_wheels.wheels_dir() == tmp_path
    monkeypatch.delenv("SQUEEZEBENCH_WHEELS")
    assert model_wheels.wheels_dir().parts[-3:] == ("share", "squeezebench", "wheels")
    assert model_wheels.wheels_dir().is_relative_to(sys.prefix)


def test_two_builds_of_a_zoo_model_at_once_make_one_and_share_it(tmp_path, monkeypatch):
    import threading
    import time

    from harness.convert import zoo

    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(tmp_path / "cache"))
    builds = []

    def build(model, directory, report):
        builds.append(directory)
        time.sleep(0.3)  # long enough for the second to arrive while the first builds
        for name in (model.model_file, zoo.DATA_FILE, zoo.INFO_FILE):
            (directory / name).write_text(str(directory))

    monkeypatch.setattr(zoo, "_build", build)
    artifacts = []
    threads = [threading.Thread(target=lambda: artifacts.append(zoo.ensure_artifact("digits-cnn"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(builds) == 1 and len(artifacts) == 2
    assert artifacts[0].directory == artifacts[1].directory
    # The files are the one build's, never replaced by a second.
    assert (artifacts[0].directory / zoo.INFO_FILE).read_text() == str(builds[0])
