"""The issue's acceptance, through the three clients against real adb servers: listing, shell
(v1 and v2, exit codes, signals, stdin), push/pull from 0 bytes to 100 MB byte-exact, names
with spaces and non-ASCII characters, pulling a directory."""

from __future__ import annotations

import pytest

from harness.digests import sha256_file
from harness.device import adb
from tests.virtual.support import random_file

SIZES_BYTES = [0, 1, 4095, 4096, 65537, 3 * 1024 * 1024 + 7]


def test_devices_l_shows_product_model_device(client, device):
    if client.kind == "adbutils":
        [info] = [d for d in adb.client(client.address).list(extended=True) if d.serial == device.serial]
        assert info.state == "device"
        assert info.tags["product"] == "sb_virtual"
        assert info.tags["model"] == "Virtual_Device"
        assert info.tags["device"] == "sb_virtual"
        return
    done = client.adb("devices", "-l")
    [line] = [l for l in done.stdout.decode().splitlines() if l.startswith(device.serial)]
    fields = line.split()
    assert fields[1] == "device"
    assert {"product:sb_virtual", "model:Virtual_Device", "device:sb_virtual"} <= set(fields)


def test_shell_separates_stdout_stderr_and_returns_exit_code(client):
    result = client.shell("echo to-out; echo to-err >&2; sh -c 'exit 42'")
    assert result.stdout == b"to-out\n"
    assert result.stderr == b"to-err\n"
    assert result.exit_code == 42


def test_shell_reports_a_killed_shell_as_128_plus_signal(client):
    assert client.shell("kill -9 $$").exit_code == 128 + 9
    assert client.shell("kill -TERM $$").exit_code == 128 + 15


def test_shell_v1_merges_output_without_exit_code(client):
    output = client.shell_v1("echo one; echo two >&2; exit 3")
    assert output.replace(b"\r\n", b"\n") == b"one\ntwo\n"


def test_shell_runs_commands_with_sh_c_semantics(client):
    result = client.shell("for i in 1 2 3; do printf %s $i; done; [ -n \"$ANDROID_DATA\" ] && echo \" $ANDROID_DATA\"")
    assert result.stdout == b"123 /data\n"


def test_cli_forwards_stdin_to_the_command(cli_client):
    done = cli_client.adb("shell", "cat; echo end", input=b"line from the host\n")
    assert done.stdout == b"line from the host\nend\n"
    assert done.returncode == 0


@pytest.mark.parametrize("size_bytes", SIZES_BYTES)
def test_push_pull_round_trip_is_byte_exact(client, device_tmp, tmp_path, size_bytes):
    local = random_file(tmp_path / "payload.bin", size_bytes)
    remote = f"{device_tmp}/payload.bin"
    client.push(local, remote)
    device_sum = client.shell(f"sha256sum {remote}").stdout.split()[0].decode()
    assert device_sum == sha256_file(local)
    back = tmp_path / "back.bin"
    client.pull(remote, back)
    assert sha256_file(back) == sha256_file(local)


def test_push_pull_100_mb(client, device_tmp, tmp_path_factory):
    big = tmp_path_factory.getbasetemp() / "hundred_mb.bin"
    if not big.exists():
        random_file(big, 100 * 1000 * 1000)
    remote = f"{device_tmp}/big.bin"
    client.push(big, remote)
    expected = sha256_file(big)
    assert client.shell(f"sha256sum {remote}").stdout.split()[0].decode() == expected
    back = tmp_path_factory.mktemp("pull") / "big.bin"
    client.pull(remote, back)
    assert sha256_file(back) == expected


def test_names_with_spaces_and_non_ascii_survive(client, device_tmp, tmp_path):
    name = "répertoire de tést ✓.txt"
    local = tmp_path / name
    local.write_bytes("contenu ünïcode\n".encode())
    remote = f"{device_tmp}/{name}"
    client.push(local, remote)
    listing = client.shell(f"ls {device_tmp}").stdout.decode("utf-8", errors="replace")
    assert client.shell(f"cat '{remote}'").stdout == local.read_bytes(), listing
    back = tmp_path / "back"
    back.mkdir()
    client.pull(remote, back / name)
    assert (back / name).read_bytes() == local.read_bytes()


def test_pull_a_directory(client, device_tmp, tmp_path):
    client.shell(
        f"mkdir -p {device_tmp}/tree/sub && echo a > {device_tmp}/tree/a.txt && "
        f"printf b > '{device_tmp}/tree/sub/b c.txt' && head -c 70000 /dev/urandom > {device_tmp}/tree/sub/r.bin"
    )
    target = tmp_path / "tree"
    client.pull(f"{device_tmp}/tree", target)
    files = {p.relative_to(target).as_posix(): p for p in target.rglob("*") if p.is_file()}
    assert set(files) == {"a.txt", "sub/b c.txt", "sub/r.bin"}
    assert files["a.txt"].read_bytes() == b"a\n"
    assert files["sub/b c.txt"].read_bytes() == b"b"
    remote_sum = client.shell(f"sha256sum {device_tmp}/tree/sub/r.bin").stdout.split()[0].decode()
    assert sha256_file(files["sub/r.bin"]) == remote_sum


def test_pushed_file_modes_follow_adbd(bundled, device_tmp, tmp_path):
    script = tmp_path / "tool.sh"
    script.write_text("#!/system/bin/sh\necho tool ran\n")
    script.chmod(0o755)
    data = tmp_path / "data.txt"
    data.write_text("x")
    data.chmod(0o644)
    bundled.push(script, f"{device_tmp}/tool.sh")
    bundled.push(data, f"{device_tmp}/data.txt")
    modes = bundled.shell(f"stat -c '%a %n' {device_tmp}/tool.sh {device_tmp}/data.txt").stdout.decode()
    # adbd copies the owner's permission bits to group and other.
    assert modes.split() == ["777", f"{device_tmp}/tool.sh", "666", f"{device_tmp}/data.txt"]
    assert bundled.shell(f"{device_tmp}/tool.sh").stdout == b"tool ran\n"


def test_push_into_a_missing_directory_creates_it(client, device_tmp, tmp_path):
    local = tmp_path / "f.txt"
    local.write_text("deep\n")
    client.push(local, f"{device_tmp}/new/deeper/f.txt")
    assert client.shell(f"cat {device_tmp}/new/deeper/f.txt").stdout == b"deep\n"


def test_push_to_read_only_system_fails_like_adbd(bundled, tmp_path):
    local = tmp_path / "f.txt"
    local.write_text("no\n")
    done = bundled.adb("push", str(local), "/system/bin/f.txt")
    assert done.returncode != 0
    assert b"Read-only file system" in done.stderr


def test_pull_of_a_missing_file_fails_like_adbd(client, tmp_path):
    if client.kind == "adbutils":
        import adbutils

        with pytest.raises(adbutils.AdbError, match="No such file or directory"):
            client.device_handle().sync.read_bytes("/data/local/tmp/does-not-exist")
        return
    done = client.adb("pull", "/data/local/tmp/does-not-exist", str(tmp_path / "x"))
    assert done.returncode != 0
    assert b"No such file or directory" in done.stdout + done.stderr  # adb 29 prints it on stdout
