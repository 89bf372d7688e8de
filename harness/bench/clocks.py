"""The CPU clocks a benchmark ran at: each cpufreq policy's cap (`scaling_max_freq`) before and after
the run against what its cores can do (`cpuinfo_max_freq`), and the clocks of the cores the runner
used, sampled by the agent during the run (clocks.csv).

SoCs cap their clocks when hot long before Android's thermal status (which follows the skin
temperature) leaves 0: a cap is flagged `clock-capped` whatever the thermal status says.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from harness.device.cpus import parse_cpu_list, pinned_cpus
from harness.bench.agent_result import AgentResult, AgentResultError, CpuState
from harness.store.records import Clocks, PolicyClocks

CLOCKS_CSV_FIRST_COLUMN = "uptime_s"


def parse_clock_samples(csv_text: str) -> dict[int, list[int]]:
    """clocks.csv as core -> the clocks (kHz) sampled; an empty value (core offline) is left out.
    A last line without its newline is dropped: the sampler was stopped while writing it."""
    lines = csv_text.split("\n")
    header = lines[0].removesuffix("\r").split(",")
    if header[0] != CLOCKS_CSV_FIRST_COLUMN or not all(c.startswith("cpu") and c[3:].isdigit() for c in header[1:]):
        raise AgentResultError(f"clocks.csv does not start with uptime_s,cpuN,...: {lines[0][:120]!r}")
    cores = [int(column[3:]) for column in header[1:]]
    clocks: dict[int, list[int]] = {core: [] for core in cores}
    for number, line in enumerate(lines[1:-1], start=2):
        fields = line.removesuffix("\r").split(",")
        if len(fields) != len(header):
            raise AgentResultError(f"clocks.csv line {number} has {len(fields)} fields, not {len(header)}")
        for core, value in zip(cores, fields[1:]):
            if value.strip().isdigit():
                clocks[core].append(int(value))
    return clocks


def clocks_of_run(result: AgentResult, clocks_text: str, taskset_mask: str | None) -> Clocks:
    """What the cores the runner used ran at, and which of their policies were capped."""
    cores = _used_cores(result, taskset_mask)
    try:
        sampled = parse_clock_samples(clocks_text) if clocks_text.strip() else {}
    except AgentResultError:
        sampled = {}  # kept as pulled; the caps before and after still stand
    policies = _policies(result.before.cpus, result.after.cpus)
    used = {name: policy for name, policy in policies.items() if set(policy.cores) & set(cores)}
    return Clocks(
        cores=tuple(cores),
        policies=used,
        run_khz={f"cpu{core}": _spread(sampled[core]) for core in cores if sampled.get(core)},
        capped=tuple(_cap(name, policy) for name, policy in used.items() if policy.capped),
    )


def _used_cores(result: AgentResult, taskset_mask: str | None) -> list[int]:
    """The cores the runner could run on: the mask cut to the online CPUs, else every online one."""
    online_text = result.runner.cpus_online or result.before.cpus_online or ""
    if taskset_mask:
        return sorted(pinned_cpus(taskset_mask, online_text))
    return sorted(parse_cpu_list(online_text) or {cpu.index for cpu in result.before.cpus if cpu.online is not False})


def _policies(before: Sequence[CpuState], after: Sequence[CpuState]) -> dict[str, PolicyClocks]:
    after_by_core = {cpu.index: cpu for cpu in after}
    grouped: dict[int, list[CpuState]] = {}
    for cpu in before:
        grouped.setdefault(cpu.index if cpu.policy is None else cpu.policy, []).append(cpu)
    policies = {}
    for first, cpus in sorted(grouped.items()):
        lead = cpus[0]
        later = after_by_core.get(lead.index)
        policies[f"policy{first}"] = PolicyClocks(
            cores=tuple(cpu.index for cpu in cpus),
            cpuinfo_max_khz=lead.max_freq_khz,
            scaling_max_khz_before=lead.scaling_max_khz,
            scaling_max_khz_after=later.scaling_max_khz if later else None,
        )
    return policies


def _spread(clocks_khz: list[int]) -> dict[str, float]:
    return {"median": statistics.median(clocks_khz), "min": min(clocks_khz), "max": max(clocks_khz),
            "samples": len(clocks_khz)}


def _cap(name: str, policy: PolicyClocks) -> str:
    caps = {when: khz for when, khz in (("before", policy.scaling_max_khz_before), ("after", policy.scaling_max_khz_after))
            if khz is not None and policy.cpuinfo_max_khz and khz < policy.cpuinfo_max_khz}
    said = ", ".join(f"{khz} kHz {when}" for when, khz in caps.items())
    return f"{name} (cpu{','.join(map(str, policy.cores))}) capped at {said} of {policy.cpuinfo_max_khz} kHz"
