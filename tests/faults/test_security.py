"""Nothing in a name is executed, names never leave their directories, nothing read from a file
or a device is evaluated, and reports escape what they show."""

from __future__ import annotations

import ast
import json
import shutil
import warnings
from pathlib import Path

import pytest

from harness.device.workdir import DEVICE_ROOT
from harness.device.connection import Device, check_device_path
from harness.errors import ExitCode
from harness.paths import PROJECT_ROOT
from harness.store.run import open_run
from tests.support.cli import one_line_error, run_cli, run_cli_in_process
from tests.support.fast import FAST_ARGS

CANARY = "/data/local/tmp/sbc"
# `touch CANARY`, with the slashes a file name cannot hold spelled as printf octal escapes.
TOUCH_CANARY = "touch $(printf '" + CANARY.replace("/", "\\057") + "')"
HOSTILE_NAME = f"a 'b' \"c\";{TOUCH_CANARY};$({TOUCH_CANARY})`{TOUCH_CANARY}`&|>x -rf * <img src=x onerror=alert(1)> **b**\nnaïve ✓"


@pytest.fixture(scope="module")
def hostile_tflite(tiny_tflite, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("names") / f"{HOSTILE_NAME}.tflite"
    shutil.copyfile(tiny_tflite, path)
    return path


def canary_exists(device) -> bool:
    return Device(device.adb_server, device.serial).shell(["ls", CANARY], check=False).ok


def test_a_hostile_file_name_is_pushed_and_benchmarked_as_data(device, hostile_tflite, tmp_path):
    assert not canary_exists(device)
    done = run_cli("bench", hostile_tflite, "--device", device.serial, "--json", "--out", tmp_path / "b", *FAST_ARGS)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "ok", document["reason"]
    # The runner opened the file under its exact name, which the agent recorded quoted.
    assert document["runner"]["graph"].endswith(f"/{hostile_tflite.name}")
    # result.txt holds one value per line: the agent writes a newline in a value as a space.
    assert document["agent"]["runner"]["argv"][2] == f"--graph={document['runner']['graph']}".replace("\n", " ")
    on_device = Device(device.adb_server, device.serial).remote_sha256(document["runner"]["graph"])
    assert on_device == document["model"]["sha256"]  # that exact path holds that exact content
    assert not canary_exists(device)


@pytest.fixture(scope="module")
def hostile_run(device, hostile_tflite, tmp_path_factory) -> Path:
    """A sweep of the hostile name and of a file whose stem is '..' (`...tflite`)."""
    dots = hostile_tflite.parent / "...tflite"
    shutil.copyfile(hostile_tflite, dots)
    results = tmp_path_factory.mktemp("results")
    done = run_cli("run", hostile_tflite, dots, "--devices", device.serial, "--threads", "1", "--no-report", "--json",
                   "--results", results, *FAST_ARGS)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return results / json.loads(done.stdout)["run"]["run_id"]


@pytest.mark.slow  # a sweep (hostile_run)
def test_a_sweep_keeps_hostile_names_as_names_and_its_files_inside_the_run(device, hostile_run):
    store = open_run(hostile_run)
    assert sorted(store.document["models"]) == sorted([HOSTILE_NAME, ".."])
    assert all(c["status"] == "ok" for c in store.cells)
    for cell in store.cells:
        directory = store.cell_dir(cell)
        assert directory.is_relative_to(hostile_run.resolve()) and (directory / "bench.json").is_file()
        assert all(part.isascii() and part not in ("", ".", "..") for part in Path(cell["dir"]).parts)
    for model in store.document["models"].values():
        assert store.contained(model["dir"]).is_relative_to(hostile_run.resolve())
    assert not canary_exists(device)


def test_device_paths_never_climb_out():
    for path in ("/data/local/tmp/squeezebench/../../x", "relative/path", "/data/local/tmp/./x", "/x\0y"):
        with pytest.raises(ValueError, match="unsafe device path"):
            check_device_path(path)
    assert check_device_path(f"{DEVICE_ROOT}/models/ab/{HOSTILE_NAME}") == f"{DEVICE_ROOT}/models/ab/{HOSTILE_NAME}"


def damaged_copy(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


def resume_and_report_are_refused(run_dir: Path, fragment: str) -> None:
    for argv in (["run", "--resume", run_dir, "--quiet"], ["report", run_dir, "--format", "md"]):
        done = run_cli_in_process(*argv)
        one_line_error(done.returncode, done.stderr, ExitCode.BAD_INPUT, fragment)


@pytest.mark.slow  # a sweep (hostile_run)
def test_a_symlink_out_of_a_results_directory_is_refused_and_its_target_untouched(hostile_run, tmp_path):
    run_dir = damaged_copy(hostile_run, tmp_path)
    document = json.loads((run_dir / "run.json").read_text())
    document["cells"][0]["status"] = "pending"  # --resume would clear this cell's directory
    (run_dir / "run.json").write_text(json.dumps(document))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    cell_dir = run_dir / document["cells"][0]["dir"]
    shutil.rmtree(cell_dir)
    cell_dir.symlink_to(elsewhere, target_is_directory=True)

    resume_and_report_are_refused(run_dir, "points outside the run directory")
    assert (elsewhere / "precious.txt").read_text() == "keep me"


@pytest.mark.slow  # a sweep (hostile_run)
@pytest.mark.parametrize("outside", ["/etc", "../../..", "cells/../../x"])
def test_paths_in_run_json_that_leave_the_run_are_refused(hostile_run, tmp_path, outside):
    run_dir = damaged_copy(hostile_run, tmp_path)
    document = json.loads((run_dir / "run.json").read_text())
    next(iter(document["models"].values()))["dir"] = outside
    (run_dir / "run.json").write_text(json.dumps(document))
    resume_and_report_are_refused(run_dir, f"path {outside!r} points outside the run directory")


@pytest.mark.slow  # a sweep (hostile_run)
def test_the_markdown_report_escapes_hostile_names(hostile_run):
    done = run_cli_in_process("report", hostile_run, "--format", "md")
    assert done.returncode == 0, done.stderr
    markdown = done.stdout
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable("table").render(markdown)  # raw HTML allowed, as on GitHub
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered and "<img" not in rendered
    assert "<strong>b</strong>" not in rendered and "<code>touch" not in rendered
    for line in markdown.splitlines():  # the name's newline and pipe never break a table row
        if line.startswith("|"):
            assert line.rstrip().endswith("|")


@pytest.mark.slow  # a sweep (hostile_run)
def test_the_html_report_escapes_hostile_names(hostile_run):
    done = run_cli_in_process("report", hostile_run, "--format", "html")
    assert done.returncode == 0, done.stderr
    page = done.stdout
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


# Safe loading ---------------------------------------------------------------------------------

UNSAFE_BUILTINS = {"eval", "exec", "compile", "__import__"}
UNSAFE_FUNCTIONS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput")}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "yaml", "jsonpickle"}
UNSAFE_KEYWORDS = {("shell", True), ("allow_pickle", True), ("safe_mode", False)}


def unsafe_constructs(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in UNSAFE_BUILTINS:
                found.append(f"line {node.lineno}: {func.id}()")
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                if (func.value.id, func.attr) in UNSAFE_FUNCTIONS:
                    found.append(f"line {node.lineno}: {func.value.id}.{func.attr}()")
            for keyword in node.keywords:
                if isinstance(keyword.value, ast.Constant) and (keyword.arg, keyword.value.value) in UNSAFE_KEYWORDS:
                    found.append(f"line {node.lineno}: {keyword.arg}={keyword.value.value}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            found += [f"line {node.lineno}: import {n}" for n in names if n and n.split(".")[0] in UNSAFE_MODULES]
    return found


def test_no_code_path_evaluates_or_unpickles_anything():
    """eval/exec, pickle/marshal/yaml, shell=True, os.system and friends appear nowhere; profiles
    are read with tomllib and results with json (checked by the bad-input tests)."""
    offenders = {}
    for path in sorted((PROJECT_ROOT / "harness").rglob("*.py")):
        found = unsafe_constructs(ast.parse(path.read_text(), str(path)))
        if found:
            offenders[str(path.relative_to(PROJECT_ROOT))] = found
    assert offenders == {}
    assert unsafe_constructs(ast.parse("import pickle\nos.system('x')\nsubprocess.run('x', shell=True)\neval('1')")) == [
        "line 1: import pickle", "line 2: os.system()", "line 3: shell=True", "line 4: eval()",
    ]  # fmt: skip
    agent = (PROJECT_ROOT / "android_app" / "agent.sh").read_text()
    code_lines = [line.split("#", 1)[0] for line in agent.splitlines()]
    assert not [line for line in code_lines if any(word in line.split() for word in ("eval", ".", "source"))]


def test_a_model_file_carrying_python_code_is_refused_without_running_it(tmp_path, monkeypatch):
    """A Keras Lambda layer stores Python bytecode; loading the .h5 must not run it."""
    import tf_keras

    canary = tmp_path / "host-canary"
    canary_path = str(canary)  # the lambda's closure is saved with it: a plain string
    inputs = tf_keras.Input((4,))
    outputs = tf_keras.layers.Lambda(lambda t: (open(canary_path, "w").close(), t)[1])(tf_keras.layers.Dense(4)(inputs))
    model_path = tmp_path / "carrier.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "HDF5 is legacy": it is also what such files come as
        tf_keras.Model(inputs, outputs).save(model_path)
    canary.unlink()  # building the model ran the lambda once, here, on purpose
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(tmp_path / "cache"))  # a cache hit would skip the load

    done = run_cli_in_process("convert", model_path, "--levels", "fp32", "--out", tmp_path / "out", "--quiet")
    one_line_error(done.returncode, done.stderr, ExitCode.BAD_INPUT, "Lambda", "never runs Python code")
    assert not canary.exists()
