"""Which `benchmark_model` runs on a device, and where it comes from.

Real phones and emulators run Google's official prebuilt `benchmark_model` for their ABI. One is
found, in this order: the environment variable SQUEEZEBENCH_BENCHMARK_MODEL_<ABI> (e.g.
SQUEEZEBENCH_BENCHMARK_MODEL_ARM64_V8A), one registered with `squeezebench runner fetch` (which
downloads the official build) or `squeezebench runner add`, or a file dropped into
<cache>/runners/<abi>/benchmark_model. Nothing silently falls back: without one the error says
which command gets it.

Virtual devices run the bundled runner (harness/bundled_runner/benchmark_model.py): same flags, same
output, real LiteRT inference through the Python that the virtual device provides. It is their
designated runner, recorded as such in every result, not a fallback.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.digests import sha256_file
from harness.errors import HostEnvironmentError, InputError
from harness.jsonfile import utc_now, write_json_atomic
from harness.paths import cache_dir
from harness.schemas import RUNNER_REGISTRY

# ELF e_machine and class (1: 32-bit, 2: 64-bit) of each Android ABI.
ABI_ELF = {
    "arm64-v8a": (183, 2),
    "armeabi-v7a": (40, 1),
    "x86_64": (62, 2),
    "x86": (3, 1),
}
# File names of the official nightly builds of the TFLite benchmark tool, per ABI.
_OFFICIAL_NAMES = {
    "arm64-v8a": "android_aarch64_benchmark_model",
    "armeabi-v7a": "android_arm_benchmark_model",
    "x86_64": "android_x86_64_benchmark_model",
    "x86": "android_x86_benchmark_model",
}
OFFICIAL_BASE_URL = "https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/lite/tools/nightly/latest"
OFFICIAL_URL = OFFICIAL_BASE_URL + "/{name}"
DOWNLOAD_TIMEOUT_S = 120.0
DOWNLOAD_CHUNK_BYTES = 1024 * 1024



@dataclass(frozen=True)
class RunnerBinary:
    kind: str  # "benchmark_model" (official prebuilt) or "bundled-litert-python"
    abi: str
    path: Path
    sha256: str
    source: str  # env, registered, cache, bundled
    version: str | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def official_download_hint(abi: str) -> str:
    name = _OFFICIAL_NAMES.get(abi, "android_aarch64_benchmark_model")
    return (
        f"run 'squeezebench runner fetch --abi {abi}', or download {OFFICIAL_URL.format(name=name)} "
        f"and register it with 'squeezebench runner add ./{name} --abi {abi}'"
    )


def official_url(abi: str, base_url: str | None = None) -> str:
    """Where Google's prebuilt runner for `abi` is; `base_url`: a mirror holding the same names."""
    if abi not in _OFFICIAL_NAMES:
        raise InputError(f"unknown ABI {abi!r}", f"use one of {', '.join(_OFFICIAL_NAMES)}")
    return f"{(base_url or OFFICIAL_BASE_URL).rstrip('/')}/{_OFFICIAL_NAMES[abi]}"


def env_var_name(abi: str) -> str:
    return "SQUEEZEBENCH_BENCHMARK_MODEL_" + abi.upper().replace("-", "_")


def _registry_path() -> Path:
    return cache_dir() / "runners" / "registry.json"


def _cache_binary_path(abi: str) -> Path:
    return cache_dir() / "runners" / abi / "benchmark_model"


def check_elf_abi(path: Path, abi: str) -> None:
    """Refuse a file that is not an ELF executable for that ABI (a common mix-up: arm vs aarch64)."""
    if abi not in ABI_ELF:
        raise InputError(f"unknown ABI {abi!r}", f"use one of {', '.join(ABI_ELF)}")
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})", "check the path") from None
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise InputError(f"{path} is not an ELF executable", official_download_hint(abi))
    elf_class = header[4]
    byteorder = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(byteorder + "H", header[18:20])
    expected_machine, expected_class = ABI_ELF[abi]
    if (machine, elf_class) != (expected_machine, expected_class):
        actual = next((name for name, spec in ABI_ELF.items() if spec == (machine, elf_class)), f"e_machine {machine}")
        raise InputError(f"{path} is built for {actual}, not {abi}", official_download_hint(abi))


def _load_registry() -> dict:
    path = _registry_path()
    if not path.exists():
        return {**RUNNER_REGISTRY.stamp(), "runners": {}}
    return RUNNER_REGISTRY.load(path)


def register_runner(path: Path, abi: str, *, source_url: str | None = None) -> RunnerBinary:
    """Check and copy a benchmark_model binary into the cache, recording its sha256 (and where
    it was downloaded from)."""
    path = Path(path).expanduser()
    check_elf_abi(path, abi)
    target = _cache_binary_path(abi)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(path, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    digest = sha256_file(target)
    registry = _load_registry()
    origin = {"source_url": source_url} if source_url else {"source_path": str(path.resolve())}
    registry["runners"][abi] = {"path": str(target), "sha256": digest, **origin, "registered_utc": utc_now()}
    write_json_atomic(_registry_path(), registry)
    return RunnerBinary("benchmark_model", abi, target, digest, "registered")


def fetch_official_runner(abi: str, base_url: str | None = None) -> RunnerBinary:
    """Download Google's prebuilt benchmark_model for `abi`, check it is an ELF executable of
    that ABI, and register it. A failed, partial or wrong download registers nothing."""
    import http.client
    import urllib.error
    import urllib.request

    url = official_url(abi, base_url)
    staging = cache_dir() / "runners" / "downloads"
    staging.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f"{abi}.", suffix=".part", dir=staging)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            expected_bytes = int(response.headers.get("Content-Length") or -1)
            received_bytes = 0
            while chunk := response.read(DOWNLOAD_CHUNK_BYTES):
                out.write(chunk)
                received_bytes += len(chunk)
        if 0 <= expected_bytes != received_bytes:
            raise HostEnvironmentError(f"download of {url} stopped after {received_bytes} of {expected_bytes} bytes",
                                       "run 'squeezebench runner fetch' again")
        try:
            return register_runner(Path(temporary), abi, source_url=url)
        except InputError as e:
            raise HostEnvironmentError(f"{url} is not a runner for {abi}: {e.problem}",
                                       "check --base-url (a mirror must hold Google's files under their names)") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        reason = f"HTTP {e.code} {e.reason}" if isinstance(e, urllib.error.HTTPError) else getattr(e, "reason", None) or e
        raise HostEnvironmentError(f"cannot download {url}: {reason}",
                                   "check the network or give a mirror with --base-url") from None
    finally:
        Path(temporary).unlink(missing_ok=True)


def registered_runners() -> dict[str, dict]:
    return _load_registry()["runners"]


def find_official_runner(abi: str) -> RunnerBinary:
    env_path = os.environ.get(env_var_name(abi))
    if env_path:
        check_elf_abi(Path(env_path), abi)
        return RunnerBinary("benchmark_model", abi, Path(env_path), sha256_file(Path(env_path)), "env")
    entry = registered_runners().get(abi)
    if entry and Path(entry["path"]).is_file():
        digest = sha256_file(Path(entry["path"]))
        if digest != entry["sha256"]:
            raise HostEnvironmentError(
                f"registered runner for {abi} changed since registration (sha256 {digest[:12]} != {entry['sha256'][:12]})",
                f"register it again with 'squeezebench runner add PATH --abi {abi}'",
            )
        return RunnerBinary("benchmark_model", abi, Path(entry["path"]), digest, "registered")
    cached = _cache_binary_path(abi)
    if cached.is_file():
        check_elf_abi(cached, abi)
        return RunnerBinary("benchmark_model", abi, cached, sha256_file(cached), "cache")
    raise HostEnvironmentError(
        f"no benchmark_model runner for ABI {abi}",
        f"{official_download_hint(abi)} (or set {env_var_name(abi)})",
    )


def bundled_runner() -> RunnerBinary:
    from harness.bundled_runner import RUNNER_PATH, RUNNER_VERSION

    return RunnerBinary(
        "bundled-litert-python", "python", RUNNER_PATH, sha256_file(RUNNER_PATH), "bundled", RUNNER_VERSION
    )


def runner_for(abi: str, *, is_virtual: bool) -> RunnerBinary:
    if is_virtual:
        return bundled_runner()
    if not abi:
        raise HostEnvironmentError("the device reports no ABI (ro.product.cpu.abi)", "is it fully booted?")
    return find_official_runner(abi)
