"""run.json: atomic, versioned, refuses what it cannot trust."""

import json
import os
import subprocess
import sys

import pytest

from harness.errors import ResultsError
from harness.jsonfile import write_json_atomic
from harness.schemas import RUN
from harness.store import run as run_store


def test_created_run_reopens_with_its_cells(tmp_path):
    store = run_store.create_run(tmp_path, {"models": ["m"]}, ["squeezebench", "run", "m"])
    store.add_cells([{"id": "a", "status": "pending", "dir": "cells/a"}, {"id": "b", "status": "ok", "dir": "cells/b"}])
    store.update_cell("a", status="running")
    reopened = run_store.open_run(store.root)
    assert [c["status"] for c in reopened.cells] == ["running", "ok"]
    assert [c["id"] for c in reopened.pending_cells()] == ["a"]
    assert reopened.document["spec"] == {"models": ["m"]}


def test_a_newer_schema_is_refused_with_the_fix(tmp_path):
    store = run_store.create_run(tmp_path, {}, [])
    document = json.loads((store.root / "run.json").read_text())
    document["schema_version"] = RUN.version + 1
    (store.root / "run.json").write_text(json.dumps(document))
    with pytest.raises(ResultsError) as error:
        run_store.open_run(store.root)
    assert "newer than this squeezebench understands" in error.value.one_line()
    assert "upgrade squeezebench" in error.value.one_line()


@pytest.mark.parametrize("content", ["", "{", "[]", '{"kind": "other", "schema_version": 1}', '{"kind": "squeezebench.run"}'])
def test_corrupt_or_foreign_files_are_refused(tmp_path, content):
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(ResultsError):
        run_store.open_run(tmp_path)


def test_a_directory_that_is_not_a_run_says_so(tmp_path):
    with pytest.raises(ResultsError, match="not a squeezebench run"):
        run_store.open_run(tmp_path)
    with pytest.raises(ResultsError, match="not a directory"):
        run_store.open_run(tmp_path / "missing")


def test_paths_in_run_json_cannot_leave_the_run_directory(tmp_path):
    store = run_store.create_run(tmp_path, {}, [])
    with pytest.raises(ResultsError, match="outside the run directory"):
        store.contained("../../etc/passwd")
    (store.root / "cells").mkdir()
    os.symlink("/etc", store.root / "cells" / "escape")
    with pytest.raises(ResultsError, match="outside the run directory"):
        store.contained("cells/escape/passwd")


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "run.json"
    write_json_atomic(path, {"kind": "x", "value": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"kind": "x", "value": object()})
    assert json.loads(path.read_text()) == {"kind": "x", "value": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_non_finite_numbers_are_stored_as_null(tmp_path):
    path = tmp_path / "x.json"
    write_json_atomic(path, {"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads(path.read_text()) == {"a": None, "b": [None, 1.5]}


def test_safe_components_cannot_climb():
    for name in ("../../x", "/abs/path", "..", "a/b\\c", "<script>"):
        component = run_store.safe_component(name)
        assert "/" not in component and component not in ("", ".", "..")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_writes_get_the_mode_open_would_give(tmp_path, umask):
    # Reports are published and served: a file readable by its owner only would break that.
    # The umask is read when harness.jsonfile is imported, hence a process of its own.
    script = (
        "import os, sys; from pathlib import Path; from harness.jsonfile import write_json_atomic; "
        "d = Path(sys.argv[1]); write_json_atomic(d / 'atomic.json', {}); (d / 'plain.json').write_text('{}')"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, preexec_fn=lambda: os.umask(umask))
    atomic_mode = (tmp_path / "atomic.json").stat().st_mode & 0o777
    assert atomic_mode == (tmp_path / "plain.json").stat().st_mode & 0o777
    assert atomic_mode & 0o044 == (0 if umask & 0o044 else 0o044)
