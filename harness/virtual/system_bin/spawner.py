"""PID 1 of a virtual device's sandbox: starts every process the host asks for, and reaps them.

Being the one parent of everything in the device's PID namespace is what makes a device behave
like one machine: commands of two `adb shell` calls see each other (`ps -A`, `pidof`, `kill`),
while nothing in the sandbox can see or signal host processes. As PID 1 of the namespace it also
cannot be killed from inside, and when it exits the kernel kills everything left in the device.

The daemon outside speaks to it over a SOCK_SEQPACKET socket: one JSON object per message, with
file descriptors passed alongside (SCM_RIGHTS). The first message is the configuration
({"env", "storage_limit_bytes"}); the spawner answers {"op": "ready"}. Then requests:
  {"op": "shell", "id", "command", "terminal": "raw"|"pty"|"raw-pty", "term"}
      -> {"op": "started", "id", "pid"} + fds [stdin/stdout (+ stderr when "raw")]
  {"op": "sync", "id", "max_frame_bytes"} -> {"op": "started", "id", "pid"} + [socket]
  {"op": "kill", "pid", "signal"}
and, when a started process ends: {"op": "exited", "id", "exit_code"} (adbd's rule: the exit
status, or 0x80 | signal when killed by a signal). Failures: {"op": "failed", "id", "error"}.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import signal
import socket
import sys
import termios
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sync_service  # noqa: E402  (a sibling file: this directory is not a package in here)

SHELL = "/system/bin/sh"
MAX_MESSAGE_BYTES = 64 * 1024
MAX_FDS_PER_MESSAGE = 4


class Spawner:
    def __init__(self, control: socket.socket, config: dict):
        self._control = control
        self._env: dict[str, str] = config["env"]
        self._storage_limit_bytes: int | None = config.get("storage_limit_bytes")
        self._job_of_pid: dict[int, int] = {}

    def run(self) -> None:
        # PID 1 only receives the signals it handles: without Python's default SIGINT handler,
        # `kill -INT 1` from a shell inside is ignored instead of ending the device.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self._control, selectors.EVENT_READ, "control")
        selector.register(wake_read, selectors.EVENT_READ, "signal")
        while True:
            for key, _ in selector.select():
                if key.data == "signal":
                    _drain(wake_read)
                    self._reap()
                elif not self._handle_message():
                    return  # the daemon is gone: returning ends PID 1, and the device with it

    def _handle_message(self) -> bool:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self._control, MAX_MESSAGE_BYTES, MAX_FDS_PER_MESSAGE)
        except ConnectionError:
            return False
        if not data:
            return False
        for fd in fds:
            os.close(fd)
        request = json.loads(data)
        op = request.get("op")
        try:
            if op == "shell":
                self._start_shell(request)
            elif op == "sync":
                self._start_sync(request)
            elif op == "kill":
                _signal_quietly(request["pid"], request["signal"])
        except OSError as e:
            self._send({"op": "failed", "id": request.get("id"), "error": f"{e.strerror or e}"})
        return True

    def _start_shell(self, request: dict) -> None:
        terminal = request["terminal"]
        env = dict(self._env)
        env["TERM"] = request.get("term") or "dumb"
        command = request["command"]
        # As adbd: no command means an interactive login shell.
        argv = [SHELL, "-c", command] if command else ["-" + SHELL]
        if terminal == "raw":
            parent_io, child_io = socket.socketpair()
            parent_err, child_err = socket.socketpair()
            child_fds = (child_io.fileno(), child_io.fileno(), child_err.fileno())
            pid = self._fork_exec(argv, env, child_fds, controlling_tty=None)
            child_io.close()
            child_err.close()
            self._started(request["id"], pid, [parent_io.detach(), parent_err.detach()])
        else:
            master, slave = os.openpty()
            if terminal == "raw-pty":
                tty.setraw(slave)
            pid = self._fork_exec(argv, env, (slave, slave, slave), controlling_tty=slave)
            os.close(slave)
            self._started(request["id"], pid, [master])

    def _start_sync(self, request: dict) -> None:
        parent_end, child_end = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            try:
                self._control.close()
                parent_end.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                sync_service.serve(child_end.fileno(), request["max_frame_bytes"], self._storage_limit_bytes)
            finally:
                os._exit(0)
        child_end.close()
        self._started(request["id"], pid, [parent_end.detach()])

    def _fork_exec(self, argv: list[str], env: dict[str, str], stdio: tuple[int, int, int],
                   controlling_tty: int | None) -> int:
        pid = os.fork()
        if pid != 0:
            return pid
        try:
            os.setsid()
            if controlling_tty is not None:
                fcntl.ioctl(controlling_tty, termios.TIOCSCTTY, 0)
            for target, fd in enumerate(stdio):
                os.dup2(fd, target)
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            # Exec keeps ignored signals ignored, and a shell cannot trap one ignored on entry.
            # Python ignores SIGPIPE and SIGXFSZ, and whatever started the daemon may have
            # ignored more (nohup: SIGHUP, which hangs up a phone's shells when adb goes). Like
            # adbd's, a shell command gets every signal at its default (`yes | head` has to end).
            for number in signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}:
                with contextlib.suppress(OSError, ValueError):  # numbers no handler can be set for
                    signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            os.chdir("/")
            os.execve(SHELL, argv, env)
        except BaseException as e:  # the child must never return into the spawner's loop
            os.write(2, f"exec '{SHELL}' failed: {e}\n".encode())
        finally:
            os._exit(127)

    def _started(self, job_id: int, pid: int, fds: list[int]) -> None:
        self._job_of_pid[pid] = job_id
        try:
            self._send({"op": "started", "id": job_id, "pid": pid}, fds)
        finally:
            for fd in fds:
                os.close(fd)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job_id = self._job_of_pid.pop(pid, None)
            if job_id is not None:  # orphans re-parented to PID 1 are reaped silently
                self._send({"op": "exited", "id": job_id, "exit_code": _adbd_exit_code(status)})

    def announce_ready(self) -> None:
        self._send({"op": "ready", "pid": os.getpid()})

    def _send(self, message: dict, fds: list[int] = ()) -> None:
        data = json.dumps(message).encode()
        try:
            if fds:
                socket.send_fds(self._control, [data], list(fds))
            else:
                self._control.send(data)
        except OSError:
            pass  # the daemon is going away; the select loop notices


def _adbd_exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 0x80 | os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 1


def _signal_quietly(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    os.set_inheritable(control.fileno(), False)
    # The configuration comes over the socket (not argv, where `ps` inside would show it).
    config = json.loads(control.recv(MAX_MESSAGE_BYTES))
    spawner = Spawner(control, config)
    spawner.announce_ready()
    spawner.run()


if __name__ == "__main__":
    main()
