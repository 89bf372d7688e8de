"""Code that runs INSIDE a virtual device's sandbox (mounted there at /apex/com.squeezebench.virtual).

Stdlib only, and no imports from `harness`: inside the sandbox only this directory and the
host's Python are visible. The daemon outside talks to `spawner.py` (the sandbox's PID 1) over a
socket; `sync_service.py` serves `adb push/pull`; `android_tools.py` is the multi-call stand-in
for getprop, setprop, dumpsys, cmd, settings, pm, am, logcat, log, service and taskset.
"""
