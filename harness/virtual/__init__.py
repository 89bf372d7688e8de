"""The virtual device: a simulated Android device for machines without a phone.

It is the device side of ADB over TCP on 127.0.0.1 (ports from 6520 up, outside the emulator
range 5554-5585), registered with a real adb server, so everything the host does with it goes
through the same code and the same adb server as with a phone. It says what it is:
`ro.squeezebench.virtual=1`; latency and memory measured on it are the host CPU's; battery and
thermal readings come from its profile's model (device_profiles/README.md).

Modules (outside the sandbox, in the daemon):
  protocol       packets, banner, feature list
  transport      one connection: handshake (optionally never authorized), streams, flow control
  services       shell (v1, v2, pty), exec, sync relay, root/unroot answers
  sandbox        the bubblewrap sandbox laid out like Android, and the link to its PID 1
  system_image   the /system it runs (mksh, toybox, stand-ins) and the files fast stand-ins read
  power, sysfs   battery/thermal model driven by the sandbox's CPU time; /sys as a phone has it
  properties, system_server   getprop/setprop and what dumpsys, cmd, settings, pm, am, logcat answer
  system_services, meminfo    `dumpsys battery` / `thermalservice` / `meminfo` for system_server
  replay, replay_dumps, replay_sysfs   answering as a captured phone (`--capture DIR`)
  daemon         one device (`python -m harness.virtual.daemon`)
  fleet          start / stop / list devices from Python (the CLI's `squeezebench virtual`)
Inside the sandbox: system_bin/ (spawner = PID 1, sync_service, android_tools = stand-ins).

Lifecycle: `fleet.stop(device)` ends the daemon, its sandbox (every process of the device),
its port and its registration, and keeps its /data (harness.paths.state_dir()/virtual/<port>/);
starting a device on that port again finds /data as it was. `fleet.stop(device, delete=True)`
(`virtual stop --delete`) removes it. SIGKILL on a daemon is a valid way to make a device
disappear: the kernel ends its sandbox and port with it, and `fleet.list_running()` drops it.

Fault injection:
  unauthorized=True    the device answers the handshake with AUTH and never accepts a key:
                       `adb devices` shows it `unauthorized`, as a phone whose prompt nobody taps.
  storage_mb=N         /data (and /sdcard, which lives in it) holds at most N MB of files: a push
                       beyond that fails as adbd fails on a full disk (sync FAIL "write failed:
                       No space left on device"), and the partial file is deleted. The limit is
                       enforced on pushes only; files written by shell commands are not limited
                       (they do count towards it).
  malformed packets / killed clients   close that connection only; processes it started are
                       hung up (SIGHUP), the device keeps serving its other connections.
"""
