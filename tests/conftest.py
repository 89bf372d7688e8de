"""Shared fixtures. Tests never touch the user's adb server (port 5037) or their ~/.android:
the whole session runs with a temporary HOME and a private adb server port."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from tests.support.adb_servers import start_adb_server
from tests.support.cli import VENV_BIN
from tests.support.devices import virtual_devices_on
from tests.support.tflite_models import TINY

# What this session sets for itself and every process it starts: a test that changes one of these
# would change them for everything after it (see `session_environment_kept`).
SESSION_VARIABLES = ("HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "SQUEEZEBENCH_STATE", "SQUEEZEBENCH_CACHE",
                     "ANDROID_ADB_SERVER_PORT", "ADB_SERVER_SOCKET", "ANDROID_ADB_SERVER_HOST", "PATH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_session_home: Path | None = None


def pytest_configure(config):
    # Done at configure time (before any test module is imported) so that nothing can read the
    # real HOME or default adb port first.
    global _session_home
    base = _session_home = Path(tempfile.mkdtemp(prefix="squeezebench-test-home-"))
    os.environ["HOME"] = str(base)
    os.environ["XDG_CACHE_HOME"] = str(base / ".cache")
    os.environ["XDG_STATE_HOME"] = str(base / ".local" / "state")
    os.environ["SQUEEZEBENCH_STATE"] = str(base / "state")
    # The conversion cache may be shared between test sessions to keep the suite fast; it is
    # content-addressed, so sharing it cannot change a result.
    os.environ.setdefault("SQUEEZEBENCH_CACHE", str(base / "cache"))
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(free_port())
    os.environ.pop("ADB_SERVER_SOCKET", None)
    os.environ.pop("ANDROID_ADB_SERVER_HOST", None)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(autouse=True)
def session_environment_kept():
    """Fails the test that changed the session's environment in this process (monkeypatch's
    changes are undone before this runs)."""
    before = {name: os.environ.get(name) for name in SESSION_VARIABLES}
    yield
    after = {name: os.environ.get(name) for name in SESSION_VARIABLES}
    changed = {name: (before[name], after[name]) for name in SESSION_VARIABLES if before[name] != after[name]}
    assert not changed, f"the test changed the session's environment for every later test: {changed}"


@pytest.fixture(scope="session")
def unused_port():
    """unused_port() -> a TCP port free on loopback right now."""
    return free_port


def pytest_unconfigure(config):
    if _session_home is not None:
        shutil.rmtree(_session_home, ignore_errors=True)


@pytest.fixture(scope="session")
def adb_server():
    """A private adb server for the whole session (the adb bundled in the adbutils wheel)."""
    from harness.device import adb

    address = adb.AdbServerAddress("127.0.0.1", int(os.environ["ANDROID_ADB_SERVER_PORT"]))
    assert address.port != adb.DEFAULT_PORT
    start_adb_server(address)
    yield address
    adb.kill_server(address)


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory) -> Path:
    """A small conv net (fp32) laid out as the real converter writes it, for device-side tests:
    written without TensorFlow (tests/support/tflite_models.py), so no test needs to wait for it."""
    return TINY.write(tmp_path_factory.mktemp("tiny") / "tiny.tflite")


# digits-cnn at every level the suite converts it to: `all`, and the combination test_digits adds.
DIGITS_CNN_LEVELS = "all,pruned-75+int8"


@contextlib.contextmanager
def session_lock(name: str):
    """Held by one process of the session at a time. xdist's workers share the conversion cache
    (SQUEEZEBENCH_CACHE is set before they start, see pytest_configure), so the lock lives there."""
    from harness import paths

    path = paths.cache_dir() / f".tests-{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def digits_cnn_converted(tmp_path_factory):
    """digits-cnn trained and converted at every level once for the whole session, into the shared
    cache: the first worker to need it does the work while the others wait for it. Otherwise every
    file that sweeps digits-cnn trains and converts it again at the same time (a minute of CPU each
    on two cores), and two zoo builds racing replace each other's model under a finished run."""
    from harness.convert import convert_model

    with session_lock("digits-cnn"):
        convert_model("digits-cnn", DIGITS_CNN_LEVELS, tmp_path_factory.mktemp("digits-cnn"))


@pytest.fixture
def virtual_devices(adb_server):
    """virtual_devices(count=1, profile="virtual-default", adb_server=<the session's>, **options):
    virtual devices started for the test, stopped and deleted after it whatever the test did to them
    (see `module_device` for one that several tests share)."""

    def start(count: int = 1, profile: str = "virtual-default", *, adb_server=adb_server, **options):
        return started.enter_context(virtual_devices_on(adb_server, count, profile, **options))

    with contextlib.ExitStack() as started:
        yield start


@pytest.fixture(scope="module")
def module_device(adb_server):
    """One virtual device (default profile) shared by the tests of a module, deleted after them."""
    with virtual_devices_on(adb_server) as [device]:
        yield device
