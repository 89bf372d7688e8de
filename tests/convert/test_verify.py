"""LiteRT's flatbuffer verifier on the host, and what it remembers."""

from __future__ import annotations

import shutil
import sys

import pytest

from harness.convert.inspect import VERIFIED_DIR, verify_tflite_file
from harness.digests import sha256_file
from harness.errors import InputError
from harness.paths import cache_dir


def test_verified_contents_are_remembered_by_digest_not_by_path(tiny_tflite, tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(tmp_path / "cache"))
    digest = verify_tflite_file(tiny_tflite)
    assert digest == sha256_file(tiny_tflite)
    assert (cache_dir() / VERIFIED_DIR / digest).is_file()
    # A copy elsewhere passes without LiteRT: its interpreter module cannot even be imported now.
    copy = shutil.copy(tiny_tflite, tmp_path / "copy.tflite")
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    assert verify_tflite_file(copy) == digest


def test_a_refused_file_is_not_remembered_and_is_refused_again(tiny_tflite, tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(tmp_path / "cache"))
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(tiny_tflite.read_bytes()[: tiny_tflite.stat().st_size // 2])
    for _ in range(2):
        with pytest.raises(InputError, match="truncated or corrupt"):
            verify_tflite_file(truncated)
    assert not (cache_dir() / VERIFIED_DIR).exists()


def test_an_unwritable_cache_only_means_verifying_again(tiny_tflite, tmp_path, monkeypatch):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(blocker))
    assert verify_tflite_file(tiny_tflite) == sha256_file(tiny_tflite)
