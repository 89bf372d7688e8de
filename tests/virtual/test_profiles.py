"""Device profiles: the shipped virtual ones load; the loader is strict and says where."""

from __future__ import annotations

import textwrap

import pytest

from harness.device import profiles
from harness.device.profiles import PhoneProfile, VirtualProfile, load_profile, match_profile
from harness.errors import InputError

PHONE = """\
schema_version = 1
kind = "phone"
friendly_name = "Example Phone 8"
big_core_mask = "f0"
default_threads = 4
delegates = ["cpu", "gpu"]

[match]
model = ["EX-8"]
soc_model = ["ExampleChip 3"]
board_platform = ["exboard"]
"""


def write(directory, name: str, text: str):
    path = directory / f"{name}.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_virtual_profiles_load_with_host_cores_by_default():
    shipped = [p for p in profiles.all_profiles() if isinstance(p, VirtualProfile)]
    assert {"virtual-default", "virtual-midrange", "virtual-hot"} <= {p.name for p in shipped}
    default = load_profile("virtual-default")
    assert default.build.abi == "x86_64"
    assert default.cpu.cores == profiles.host_core_count()
    assert default.build.fingerprint.endswith(":user/release-keys")
    assert len(default.thermal.status_thresholds_c) == 6


def test_phone_profiles_load_and_match_model_before_soc_before_platform(tmp_path, monkeypatch):
    monkeypatch.setattr(profiles, "DEVICE_PROFILES_DIR", tmp_path)
    write(tmp_path, "example-8", PHONE)
    write(tmp_path, "other", PHONE.replace("EX-8", "OTHER").replace("Example Phone 8", "Other")
          .replace("ExampleChip 3", "OtherChip").replace("exboard", "otherboard"))
    phone = load_profile("example-8")
    assert isinstance(phone, PhoneProfile)
    assert (phone.big_core_mask, phone.default_threads, phone.delegates) == (0xF0, 4, ("cpu", "gpu"))
    assert match_profile({"ro.product.model": "EX-8", "ro.soc.model": "OtherChip"}).name == "example-8"
    assert match_profile({"ro.product.model": "unknown", "ro.soc.model": "otherchip"}).name == "other"
    assert match_profile({"ro.board.platform": "exboard"}).name == "example-8"
    assert match_profile({"ro.product.model": "nothing"}) is None
    assert match_profile({"ro.product.model": "EX-8", "ro.squeezebench.virtual": "1"}) is None


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("capacity_mah = 4500", "capacity_mah = 4500\ncapacity_mahh = 1"),
     "'battery.capacity_mahh' is not a known key"),
    (lambda t: t.replace("capacity_mah = 4500", 'capacity_mah = "big"'),
     "'battery.capacity_mah' must be a number, got str 'big'"),
    (lambda t: t.replace("sdk = 34", "sdk = 34.0"), "'build.sdk' must be an integer"),
    (lambda t: t.replace("sdk = 34", "sdk = true"), "'build.sdk' must be an integer, got bool"),
    (lambda t: t.replace('abi = "x86_64"', 'abi = "arm64-v8a"'), "'build.abi' must be x86_64"),
    (lambda t: t.replace('model = "Virtual Device"', 'model = "a:b"'), "'build.model' must not contain"),
    (lambda t: t.replace("schema_version = 1", "schema_version = 2"), "schema_version 2 is newer than this squeezebench understands"),
    (lambda t: t.replace('kind = "virtual"', 'kind = "tablet"'), "'kind' must be one of"),
    (lambda t: t.replace("[power]\nidle_w = 0.4\n", "[power]\n"), "'power.idle_w' is missing"),
    (lambda t: t.replace("status_thresholds_c = [37.0, 39.0, 41.0, 44.0, 47.0, 52.0]",
                         "status_thresholds_c = [37.0, 36.0, 41.0, 44.0, 47.0, 52.0]"),
     "6 rising temperatures"),
    (lambda t: t.replace("[build]", "extra = 1\n\n[build]"), "'extra' is not a known key"),
    (lambda t: t.replace("[thermal]", "[thermal\n"), "not valid TOML"),
])
def test_bad_virtual_profiles_are_refused_naming_file_and_key(tmp_path, edit, message):
    text = (profiles.DEVICE_PROFILES_DIR / "virtual-default.toml").read_text()
    path = tmp_path / "virtual-default.toml"
    path.write_text(edit(text))
    with pytest.raises(InputError) as error:
        load_profile(path)
    line = error.value.one_line()
    assert message in line and "virtual-default.toml" in line
    assert "\n" not in line


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('big_core_mask = "f0"', 'big_core_mask = "zz"'), "hex CPU mask"),
    (lambda t: t.replace('["cpu", "gpu"]', '["cpu", "tpu"]'), "unknown delegate 'tpu'"),
    (lambda t: t.replace('model = ["EX-8"]\nsoc_model = ["ExampleChip 3"]\nboard_platform = ["exboard"]\n', ""),
     "needs at least one of model"),
    (lambda t: t.replace("default_threads = 4", "default_threads = 0"), "at least 1"),
])
def test_bad_phone_profiles_are_refused(tmp_path, edit, message):
    path = write(tmp_path, "example-8", edit(PHONE))
    with pytest.raises(InputError, match=message):
        load_profile(path)


def test_unknown_profile_name_lists_the_known_ones():
    with pytest.raises(InputError) as error:
        load_profile("no-such-profile")
    assert "virtual-default" in error.value.one_line()
