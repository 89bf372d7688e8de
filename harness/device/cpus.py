"""A phone's CPUs as the kernel lists them ("0-3,6-7") and as `taskset` masks them (hex), and what a
mask leaves of the online CPUs: older Qualcomm kernels take big cores offline (core_ctl), and
`sched_setaffinity` refuses a mask with no online CPU in it (EINVAL), so taskset fails.
"""

from __future__ import annotations

from harness.errors import DeviceError

ONLINE_CPUS_PATH = "/sys/devices/system/cpu/online"


def parse_cpu_list(text: str) -> set[int]:
    """A kernel CPU list ("0-3,6-7", "0", "") as its CPU numbers; parts that are no list are left out."""
    cpus: set[int] = set()
    for part in filter(None, text.strip().split(",")):
        first, _, last = part.strip().partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def format_cpu_list(cpus: set[int]) -> str:
    """CPU numbers as the kernel lists them: {0, 1, 2, 3, 6, 7} -> "0-3,6-7"."""
    parts, ordered = [], sorted(cpus)
    for cpu in ordered:
        if parts and cpu == parts[-1][1] + 1:
            parts[-1][1] = cpu
        else:
            parts.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def mask_cpus(mask: str) -> set[int]:
    """The CPUs a hex taskset mask selects ("f0" -> 4-7)."""
    value = int(mask.removeprefix("0x").removeprefix("0X"), 16)
    return {bit for bit in range(value.bit_length()) if value >> bit & 1}


def mask_of(cpus: set[int]) -> str:
    return format(sum(1 << cpu for cpu in cpus), "x")


def pinned_cpus(mask: str, online_text: str) -> set[int]:
    """The CPUs a runner pinned with `mask` runs on: the mask cut to the online CPUs (the whole
    mask when the online list is unknown)."""
    online = parse_cpu_list(online_text)
    wanted = mask_cpus(mask)
    return wanted & online if online else wanted


def check_taskset(mask: str, online_text: str) -> set[int]:
    """`pinned_cpus`, refused when none is left, as the kernel refuses such a mask (taskset then
    fails with EINVAL)."""
    effective = pinned_cpus(mask, online_text)
    if not effective:
        online = parse_cpu_list(online_text)
        raise DeviceError(
            f"--taskset {mask} selects CPUs {format_cpu_list(mask_cpus(mask)) or 'none'}, none of them online "
            f"(online: {format_cpu_list(online)}); taskset would fail with EINVAL",
            f"pin the runner to online CPUs (--taskset {mask_of(online)} is all of them), or bring the cores online",
        )
    return effective
