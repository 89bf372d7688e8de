"""`dumpsys meminfo` of a virtual device: the processes of its sandbox, read from its own /proc,
in the format of AOSP's ActivityManagerService (`Total PSS by process`, `** MEMINFO in pid N`,
`App Summary`, `TOTAL PSS:`).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.virtual.system_services import Result


def meminfo(args: list[str], proc: Path) -> Result:
    """`dumpsys meminfo [PID|NAME]` over the processes under `proc` (the sandbox's /proc)."""
    targets = [a for a in args if not a.startswith("-")]
    header = "Applications Memory Usage (in Kilobytes):\n" + _uptime_line() + "\n"
    if not targets:
        rows = sorted(_processes(proc), key=lambda p: -p[2].get("Pss", 0))
        body = "Total PSS by process:\n" + "".join(
            f"{_kb(mem.get('Pss', 0)):>12}K: {name} (pid {pid})\n" for pid, name, mem in rows
        )
        return Result(stdout=header + body + _total_ram_lines())
    wanted = targets[0]
    for pid, name, mem in _processes(proc):
        if wanted == str(pid) or wanted == name:
            return Result(stdout=header + _meminfo_block(pid, name, mem))
    return Result(stdout=f"No process found for: {wanted}\n")


def _processes(proc: Path) -> list[tuple[int, str, dict[str, int]]]:
    found = []
    for entry in sorted(os.listdir(proc), key=lambda n: int(n) if n.isdigit() else -1):
        if not entry.isdigit() or entry == "1":
            continue
        try:
            cmdline = (proc / entry / "cmdline").read_bytes().split(b"\0")
            rollup = (proc / entry / "smaps_rollup").read_text()
        except OSError:
            continue
        name = _process_name(cmdline)
        found.append((int(entry), name, _parse_kb_fields(rollup)))
    return found


def _uptime_line() -> str:
    try:
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        uptime_s = 0.0
    ms = int(uptime_s * 1000)
    return f"Uptime: {ms} Realtime: {ms}\n"


def _kb(value: int) -> str:
    return f"{value:,}"


def _total_ram_lines() -> str:
    info = _parse_kb_fields(Path("/proc/meminfo").read_text())
    return (
        f"\nTotal RAM: {_kb(info.get('MemTotal', 0))}K (status normal)\n"
        f" Free RAM: {_kb(info.get('MemAvailable', 0))}K\n"
    )


def _meminfo_block(pid: int, name: str, mem: dict[str, int]) -> str:
    pss, rss = mem.get("Pss", 0), mem.get("Rss", 0)
    private_dirty, private_clean = mem.get("Private_Dirty", 0), mem.get("Private_Clean", 0)
    swap_pss = mem.get("SwapPss", 0)
    return (
        f"** MEMINFO in pid {pid} [{name}] **\n"
        "                   Pss  Private  Private  SwapPss      Rss\n"
        "                 Total    Dirty    Clean    Dirty    Total\n"
        "                ------   ------   ------   ------   ------\n"
        f"  Native Heap {pss:>8} {private_dirty:>8} {private_clean:>8} {swap_pss:>8} {rss:>8}\n"
        f"        TOTAL {pss:>8} {private_dirty:>8} {private_clean:>8} {swap_pss:>8} {rss:>8}\n"
        "\n App Summary\n"
        "                       Pss(KB)                        Rss(KB)\n"
        "                        ------                         ------\n"
        "           Java Heap:        0                              0\n"
        f"         Native Heap: {pss:>8}                       {rss:>8}\n"
        "                Code:        0                              0\n"
        "               Stack:        0                              0\n"
        "            Graphics:        0                              0\n"
        "       Private Other:        0\n"
        "              System:        0\n"
        "             Unknown:                                       0\n"
        "\n"
        f"           TOTAL PSS: {pss:>8}            TOTAL RSS: {rss:>8}      TOTAL SWAP PSS: {swap_pss:>8}\n"
    )


def _parse_kb_fields(text: str) -> dict[str, int]:
    fields = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[key.strip()] = int(parts[0])
    return fields


def _process_name(cmdline: list[bytes]) -> str:
    args = [a.decode(errors="replace") for a in cmdline if a]
    if not args:
        return "?"
    # An interpreter running a script is known by the script, as an app by its package.
    if os.path.basename(args[0]).startswith("python") and len(args) > 1 and not args[1].startswith("-"):
        return os.path.basename(args[1])
    return os.path.basename(args[0])
