"""harness.device.connection and the adb client against a real adb server and a virtual device:
requests without adbutils' fixed sleeps, and the digest note that stands for "already there"."""

from __future__ import annotations

import os
import shlex

import pytest

from harness.device.connection import DIGEST_NOTE_SUFFIX, Device
from harness.digests import sha256_file

REMOTE_DIR = "/data/local/tmp/squeezebench-connection-test"
LOCAL_MTIME_S = 1_600_000_000  # 2020: a pushed file keeps it, as with `adb push`


@pytest.fixture(scope="module")
def device(module_device, adb_server):
    device = Device(adb_server, module_device.serial)
    device.shell(["mkdir", "-p", REMOTE_DIR])
    return device


@pytest.fixture
def local_file(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(os.urandom(200_000))
    os.utime(path, (LOCAL_MTIME_S, LOCAL_MTIME_S))
    return path


@pytest.fixture
def remote(device, request):
    path = f"{REMOTE_DIR}/{request.node.name.replace('[', '_').replace(']', '')}.tflite"
    yield path
    device.shell(["rm", "-f", path, path + DIGEST_NOTE_SUFFIX])


def test_the_server_version_is_asked_once_per_client(device, adb_server, monkeypatch):
    import adbutils

    asked = []
    real = adbutils.AdbClient.server_version
    monkeypatch.setattr(adbutils.AdbClient, "server_version", lambda client: asked.append(1) or real(client))
    device = Device(adb_server, device.serial)  # a new client, which has asked nothing yet
    outputs = [device.shell(["echo", str(n)]).stdout for n in range(3)]

    assert outputs == ["0\n", "1\n", "2\n"]
    assert device.stat("/data/local/tmp").exists
    assert len(asked) == 1


def test_requests_go_out_without_waiting_for_acks(adb_server):
    """Small writes in a row (a sync SEND header, a small file's DATA, DONE) must not each wait
    for the server's delayed ACK (Nagle's algorithm): 40 ms apiece."""
    import socket

    from harness.device.adb import client

    with client(adb_server).make_connection() as connection:
        assert connection.conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_requests_close_without_sleeping_and_read_their_whole_answer(device, local_file, remote, monkeypatch):
    import adbutils._adb

    slept = []
    monkeypatch.setattr(adbutils._adb.time, "sleep", lambda seconds: slept.append(seconds))
    big_output = device.shell(["seq", "1", "20000"]).stdout
    device.push(local_file, remote)
    pulled = local_file.with_suffix(".pulled")
    device.pull(remote, pulled)

    assert slept == []
    assert big_output.splitlines() == [str(n) for n in range(1, 20001)]
    assert pulled.read_bytes() == local_file.read_bytes()


def test_a_pushed_file_keeps_its_local_mtime_and_gets_a_digest_note(device, local_file, remote):
    assert device.push_if_changed(local_file, remote) is True

    on_device = device.stat(remote)
    assert (on_device.size_bytes, on_device.mtime_s) == (local_file.stat().st_size, LOCAL_MTIME_S)
    note = device.shell(["cat", remote + DIGEST_NOTE_SUFFIX]).stdout
    assert note == f"{sha256_file(local_file)} {on_device.size_bytes} {LOCAL_MTIME_S}\n"
    assert device.remote_sha256(remote) == sha256_file(local_file)


def test_a_noted_file_is_recognised_without_hashing_it_on_the_device(device, local_file, remote, monkeypatch):
    device.push_if_changed(local_file, remote)
    monkeypatch.setattr(Device, "remote_sha256", lambda *_: pytest.fail("hashed on the device"))

    assert device.push_if_changed(local_file, remote) is False


@pytest.mark.parametrize("change", [
    "rm -f {remote}",  # gone
    "truncate -s 1000 {remote}",  # cut short: another size
    # Rewritten in place with other bytes of the same size: the device's clock is its mtime now.
    "dd if=/dev/zero of={remote} bs=1000 count=1 conv=notrunc 2>/dev/null",
], ids=["removed", "truncated", "rewritten"])
def test_a_note_never_claims_a_file_that_went_or_changed(device, local_file, remote, change):
    device.push_if_changed(local_file, remote)
    device.shell_script(change.format(remote=shlex.quote(remote)))
    assert device.remote_sha256(remote) != sha256_file(local_file)

    assert device.push_if_changed(local_file, remote) is True
    assert device.remote_sha256(remote) == sha256_file(local_file)


def test_other_content_for_the_same_path_is_pushed_over_a_matching_note(device, local_file, remote, tmp_path):
    device.push_if_changed(local_file, remote)
    other = tmp_path / "other.tflite"
    other.write_bytes(os.urandom(local_file.stat().st_size))
    os.utime(other, (LOCAL_MTIME_S, LOCAL_MTIME_S))  # same size and mtime: only the digest differs

    assert device.push_if_changed(other, remote) is True
    assert device.remote_sha256(remote) == sha256_file(other)


def test_a_file_without_a_note_is_hashed_once_then_noted(device, local_file, remote, monkeypatch):
    device.push(local_file, remote)  # as an older squeezebench pushed: no note
    assert device.push_if_changed(local_file, remote) is False
    assert device.shell(["cat", remote + DIGEST_NOTE_SUFFIX]).stdout.startswith(sha256_file(local_file))

    monkeypatch.setattr(Device, "remote_sha256", lambda *_: pytest.fail("hashed on the device again"))
    assert device.push_if_changed(local_file, remote) is False


def test_several_files_are_checked_in_one_round_trip_as_sync_stat_sees_them(device, local_file, remote, monkeypatch):
    noted, bare, missing = remote, remote + ".bare", remote + ".missing"
    device.push_if_changed(local_file, noted)
    device.push(local_file, bare)
    round_trips = []
    original = Device.shell_script_raw
    monkeypatch.setattr(Device, "shell_script_raw", lambda self, script, **kw: round_trips.append(script) or
                        original(self, script, **kw))

    held = device.held_files([noted, bare, missing])

    assert len(round_trips) == 1  # a missing file is then asked by sync STAT: a push follows anyway
    assert held[noted].note == (sha256_file(local_file), local_file.stat().st_size, LOCAL_MTIME_S)
    assert held[bare].note is None and held[missing].note is None
    for path in (noted, bare, missing):
        assert held[path].stat == device.stat(path)
    assert not held[missing].stat.exists
    device.shell(["rm", "-f", bare])


def test_a_directory_tree_is_pulled_over_one_sync_connection_as_adbutils_pulls_it(device, tmp_path, monkeypatch):
    tree = f"{REMOTE_DIR}/tree"
    device.shell_script(f"rm -rf {tree}; mkdir -p {tree}/run_1/deeper; : >{tree}/empty.txt; "
                        f"seq 1 30000 >{tree}/latencies.txt; echo 'x=1' >{tree}/run_1/result.txt; "
                        f"head -c 70000 /dev/urandom >{tree}/run_1/deeper/blob.bin")
    connections = []
    original = type(device._adb_device).open_transport
    monkeypatch.setattr(type(device._adb_device), "open_transport",
                        lambda self, *a, **kw: connections.append(1) or original(self, *a, **kw))

    pulled_bytes = device.pull_dir(tree, tmp_path / "ours")
    ours_connections = len(connections)
    device._adb_device.sync.pull_dir(tree, tmp_path / "adbutils")

    def files(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    ours, reference = files(tmp_path / "ours"), files(tmp_path / "adbutils")
    assert ours == reference
    assert set(ours) == {"empty.txt", "latencies.txt", "run_1/result.txt", "run_1/deeper/blob.bin"}
    assert pulled_bytes == sum(map(len, ours.values()))
    assert ours_connections == 1
    device.shell(["rm", "-rf", tree])


def test_pulling_a_directory_that_is_not_there_leaves_an_empty_one(device, tmp_path):
    assert device.pull_dir(f"{REMOTE_DIR}/no-such-dir", tmp_path / "out") == 0
    assert list((tmp_path / "out").iterdir()) == []


def test_a_file_name_that_is_not_utf8_is_pulled_with_its_bytes(device, tmp_path):
    # Phones hold such names (files written by native code); the listing gives the raw bytes back.
    tree = f"{REMOTE_DIR}/latin1"
    device.shell_script(f"rm -rf {tree}; mkdir -p {tree}; printf x >\"{tree}/$(printf 'caf\\351').txt\"")
    device.pull_dir(tree, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == [os.fsdecode(b"caf\xe9.txt")]
    assert (tmp_path / "out" / os.fsdecode(b"caf\xe9.txt")).read_bytes() == b"x"
    device.shell(["rm", "-rf", tree])
