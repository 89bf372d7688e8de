"""Fixtures for the agent tests: a toybox-only userland and a fake device (see support.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.agent.support import HERE, TOYBOX_APPLETS, FakeDevice


@pytest.fixture(scope="session")
def userland(tmp_path_factory) -> Path:
    """A bin directory holding toybox applets and the fake dumpsys, and nothing else."""
    toybox = shutil.which("toybox")
    if toybox is None:
        pytest.fail("toybox is not installed (./scripts/setup installs it)")
    bin_dir = tmp_path_factory.mktemp("toybox-bin")
    for applet in TOYBOX_APPLETS:
        (bin_dir / applet).symlink_to(toybox)
    dumpsys = bin_dir / "dumpsys"
    dumpsys.write_text(f"#!{sys.executable}\n" + (HERE / "fake_dumpsys.py").read_text())
    dumpsys.chmod(0o755)
    return bin_dir


@pytest.fixture
def device(tmp_path, userland) -> FakeDevice:
    return FakeDevice(tmp_path, userland)
