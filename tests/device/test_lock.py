"""One benchmark per device across processes: a second process waits or names the holder."""

import os
import signal
import subprocess
import sys

import pytest

from harness.device.lock import device_lock
from harness.errors import DeviceError

HOLDER = """
import sys, time
from harness.device.lock import device_lock
with device_lock("127.0.0.1:5037", "SERIAL-1", purpose="squeezebench run holder-test"):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder():
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=os.environ)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_busy_device_names_its_holder(holder):
    with pytest.raises(DeviceError) as error:
        with device_lock("127.0.0.1:5037", "SERIAL-1", wait_s=0.3):
            pass
    message = error.value.one_line()
    assert f"pid {holder.pid}" in message and "holder-test" in message


def test_a_waiter_is_told_once_and_gets_the_device_when_the_holder_dies(holder):
    told = []

    def kill_holder_soon(who):
        told.append(who)
        holder.send_signal(signal.SIGKILL)  # even SIGKILL releases the lock

    with device_lock("127.0.0.1:5037", "SERIAL-1", wait_s=60, on_wait=kill_holder_soon):
        pass  # got it: a lock left by a dead holder is free (a live one would time out with DeviceError)
    assert len(told) == 1 and str(holder.pid) in told[0]


def test_other_devices_and_servers_are_independent(holder):
    with device_lock("127.0.0.1:5037", "SERIAL-2", wait_s=0):
        pass
    with device_lock("labhost:5037", "SERIAL-1", wait_s=0):
        pass
