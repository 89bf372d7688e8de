"""harness.device.cpus: kernel CPU lists, taskset masks, and a mask checked against online CPUs."""

from __future__ import annotations

import pytest

from harness.device.cpus import check_taskset, format_cpu_list, mask_cpus, parse_cpu_list, pinned_cpus
from harness.errors import DeviceError


def test_kernel_cpu_lists_and_masks_read_both_ways():
    assert parse_cpu_list("0-3,6-7\n") == {0, 1, 2, 3, 6, 7}
    assert format_cpu_list({0, 1, 2, 3, 6, 7}) == "0-3,6-7"
    assert parse_cpu_list("") == set() and format_cpu_list({5}) == "5"
    assert mask_cpus("f0") == {4, 5, 6, 7} and mask_cpus("0x3") == {0, 1}


def test_a_mask_is_cut_to_the_online_cpus():
    # Big cores 6-7 taken offline (core_ctl): a mask of 4-7 runs on 4-5.
    assert pinned_cpus("f0", "0-5") == {4, 5}
    assert check_taskset("f0", "0-5") == {4, 5}
    assert pinned_cpus("f0", "") == {4, 5, 6, 7}  # online list unknown: the mask as asked


def test_a_mask_with_no_online_cpu_is_refused_with_one_that_works():
    with pytest.raises(DeviceError) as refused:
        check_taskset("c0", "0-5")
    assert "none of them online (online: 0-5)" in refused.value.one_line()
    assert "--taskset 3f" in refused.value.one_line()

