"""Every kind of document squeezebench reads goes through its versioned schema: older versions are
upgraded by their migrations, newer ones refused with the fix, foreign ones refused."""

from __future__ import annotations

import json
import shutil

import pytest

from harness import schemas
from harness.convert.document import load_conversion
from harness.device import runner_binaries
from harness.device.profiles import load_profile
from harness.errors import InputError, ResultsError
from harness.paths import DEVICE_PROFILES_DIR
from harness.schemas import Schema
from harness.store import cell_files
from harness.store.records import BenchResult, CellStatus
from harness.store.run import create_run, open_run


def test_older_documents_are_upgraded_by_their_migrations(tmp_path):
    def update_to_2(document):
        document["new"] = document.pop("old") + 1
        return document

    def update_to_3(document):
        document["newer"] = document.pop("new") * 10
        return document

    schema = Schema("k", 3, history=("1 - old", "2 - new", "3 - newer"), migrations={2: update_to_2, 3: update_to_3})
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"kind": "k", "schema_version": 1, "old": 1}))
    assert schema.load(path) == {"kind": "k", "schema_version": 3, "newer": 20}


def test_a_schema_without_a_migration_for_each_bump_cannot_be_declared():
    with pytest.raises(AssertionError, match="a migration per bump"):
        Schema("k", 2, history=("1 - a", "2 - b"))


@pytest.mark.parametrize("schema", schemas.ALL, ids=lambda s: s.kind)
def test_every_schema_has_its_history(schema):
    assert len(schema.history) == schema.version and all(line.startswith(f"{n} - ") for n, line in
                                                         enumerate(schema.history, start=1))  # fmt: skip


def _newer(path, **changes):
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


def _conversion(tmp_path):
    path = tmp_path / "convert.json"
    path.write_text(json.dumps({**schemas.CONVERSION.stamp(), "model": {}, "levels": []}))
    return path, lambda: load_conversion(path)


def _bench(tmp_path):
    result = BenchResult(CellStatus.OK, None, model={"file": "m.tflite"}, settings={}, runner={}, device={})
    path = tmp_path / cell_files.BENCH_FILE
    path.write_text(json.dumps(result.to_dict()))
    return path, lambda: cell_files.load_bench(tmp_path)


def _run(tmp_path):
    store = create_run(tmp_path, {}, [])
    return store.root / "run.json", lambda: open_run(store.root)


def _runner_registry(tmp_path):
    path = runner_binaries._registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**schemas.RUNNER_REGISTRY.stamp(), "runners": {}}))
    return path, runner_binaries.registered_runners


def _device_profile(tmp_path):
    path = tmp_path / "virtual-default.toml"
    shutil.copy(DEVICE_PROFILES_DIR / "virtual-default.toml", path)
    return path, lambda: load_profile(path)


READERS = {"conversion": _conversion, "bench": _bench, "run": _run, "runner-registry": _runner_registry}


@pytest.mark.parametrize("make", READERS.values(), ids=READERS.keys())
def test_each_kind_reads_back_and_a_newer_version_is_refused(tmp_path, make):
    path, read = make(tmp_path)
    read()  # the current version reads
    _newer(path, schema_version=99)
    with pytest.raises(ResultsError, match="schema_version 99 is newer than this squeezebench understands"):
        read()
    _newer(path, schema_version=1, kind="squeezebench.something-else")
    with pytest.raises(ResultsError, match="not a squeezebench"):
        read()


def test_a_newer_device_profile_is_refused_as_bad_input(tmp_path):
    path, read = _device_profile(tmp_path)
    read()
    path.write_text(path.read_text().replace("schema_version = 1", "schema_version = 99"))
    with pytest.raises(InputError, match="schema_version 99 is newer than this squeezebench understands") as error:
        read()
    assert not isinstance(error.value, ResultsError) or error.value.exit_code == InputError.exit_code
