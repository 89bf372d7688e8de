"""Where squeezebench keeps its files on a device: one directory under /data/local/tmp, the one
place a shell user can write on every Android version."""

from __future__ import annotations

DEVICE_ROOT = "/data/local/tmp/squeezebench"
AGENT_PATH = f"{DEVICE_ROOT}/agent.sh"
RUNNER_DIR = f"{DEVICE_ROOT}/runner"
MODELS_DIR = f"{DEVICE_ROOT}/models"  # models/<sha256 prefix>/<file name>
CELLS_DIR = f"{DEVICE_ROOT}/cells"  # one directory per benchmark in flight, removed once pulled
# What squeezebench changed on the device and must put back, each in a note of its own so that
# a squeezebench killed in between leaves the way back behind (harness/device/charging.py).
CHARGING_NOTE = f"{DEVICE_ROOT}/charging-restore"
STAY_AWAKE_NOTE = f"{DEVICE_ROOT}/stay-awake-restore"  # harness/device/stay_awake.py
