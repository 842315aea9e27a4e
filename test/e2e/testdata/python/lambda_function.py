# A Python function for Hearth's invoke e2e tests: one handler, many behaviours,
# chosen by event["action"]. Module scope runs once per execution environment.
import os
import sys
import threading
import time

count = 0  # invocations seen by this environment
ticks = 0  # advanced every 10 ms by a background thread, once started
_ticker = None

LAMBDA_VARS = (
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_EXECUTION_ENV",
    "_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_LAMBDA_RUNTIME_API", "TZ", "PATH",
    "LD_LIBRARY_PATH", "MY_VAR", "OTHER_VAR", "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_STS",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
)


def _tick():
    global ticks
    while True:
        time.sleep(0.01)
        ticks += 1


def _try(f):
    try:
        return {"ok": True, "value": f()}
    except BaseException as e:  # noqa: BLE001 - every failure is an answer here
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def _fetch(url):
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def _connflood(host, port, seconds, threads, hold):
    # Connects and closes as fast as it can from several threads for a while, then
    # opens up to `hold` connections and keeps them: how many of each got through.
    import socket

    res = {"ok": 0, "refused": 0, "other": 0, "held": 0}
    lock = threading.Lock()
    deadline = time.time() + seconds

    def attempt():
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, port))
            return "ok", s
        except ConnectionRefusedError:
            s.close()
            return "refused", None
        except OSError:
            s.close()
            return "other", None

    def loop():
        while time.time() < deadline:
            k, s = attempt()
            if s is not None:
                s.close()
            with lock:
                res[k] += 1

    ts = [threading.Thread(target=loop) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    time.sleep(1.5)  # the rate limit's bucket refills
    held = []
    for _ in range(hold):
        k, s = attempt()
        if s is not None:
            held.append(s)
        else:
            time.sleep(0.02)  # refused: the cap, or the rate; a while lets the rate pass
    res["held"] = len(held)
    for s in held:
        s.close()
    return res


def _write(path):
    with open(path, "w") as f:
        f.write("x")
    return path


def _read(path):
    with open(path, "rb") as f:
        return f.read(256).decode("utf-8", "replace")


def _connect(host, port):
    import socket

    s = socket.create_connection((host, port), timeout=1.0)
    s.close()
    return "connected"


def _pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def _forkbomb(limit, hold):
    # Each child holds its process slot for `hold` seconds; the parent does not wait
    # (hearth-init, PID 1 of the sandbox, reaps the orphans).
    forked = 0
    err = ""
    for _ in range(limit):
        try:
            pid = os.fork()
        except OSError as e:
            err = "%s: %s" % (type(e).__name__, e)
            break
        if pid == 0:
            try:
                time.sleep(hold)
            finally:
                os._exit(0)
        forked += 1
    return {"forked": forked, "error": err}


def lambda_handler(event, context):
    global count, _ticker
    count += 1
    action = event.get("action", "echo")
    marker = event.get("marker", "")
    if marker:
        print("MARKER " + marker)
    if action == "echo":
        cc = context.client_context
        return {
            "event": event,
            "count": count,
            "ctx": {
                "request_id": context.aws_request_id,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_arn": context.invoked_function_arn,
                "memory_limit": str(context.memory_limit_in_mb),
                "log_group": context.log_group_name,
                "log_stream": context.log_stream_name,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "client_custom": (cc.custom if cc is not None else None),
            },
            "env": {k: os.environ[k] for k in LAMBDA_VARS if k in os.environ},
        }
    if action == "raise":
        raise ValueError("boom: " + marker)
    if action == "sleep":
        began = time.time()
        time.sleep(event["seconds"])
        return {"count": count, "log_stream": context.log_stream_name, "began": began, "ended": time.time()}
    if action == "exit":
        sys.exit(event.get("code", 3))
    if action == "oom":
        hog = []
        for _ in range(event.get("mb", 300) // 10):
            hog.append(b"\x01" * (10 << 20))  # written, so really resident
        return {"count": count, "held_mb": 10 * len(hog)}
    if action == "big":
        return "x" * event["bytes"]
    if action == "ticker":
        if _ticker is None:
            _ticker = threading.Thread(target=_tick, daemon=True)
            _ticker.start()
        if event.get("sleep"):
            time.sleep(event["sleep"])
        return {"count": count, "ticks": ticks}
    if action == "probe":
        # Isolation probes: each is tried and its outcome reported.
        out = {"count": count, "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "pid": os.getpid()}
        for p in event.get("read", []):
            out["read:" + p] = _try(lambda p=p: _read(p))
        for p in event.get("list", []):
            out["list:" + p] = _try(lambda p=p: sorted(os.listdir(p)))
        for p in event.get("write", []):
            out["write:" + p] = _try(lambda p=p: _write(p))
        for p in event.get("exists", []):
            out["exists:" + p] = os.path.exists(p)
        for hp in event.get("connect", []):
            host, _, port = hp.rpartition(":")
            out["connect:" + hp] = _try(lambda host=host, port=port: _connect(host, int(port)))
        for url in event.get("fetch", []):
            out["fetch:" + url] = _try(lambda url=url: _fetch(url))
        if event.get("pids"):
            out["pids"] = _pids()
            cmdlines = []
            for p in out["pids"]:
                try:
                    with open("/proc/%d/cmdline" % p, "rb") as f:
                        cmdlines.append(f.read().replace(b"\0", b" ").decode("utf-8", "replace"))
                except OSError:
                    pass
            out["cmdlines"] = cmdlines
        return out
    if action == "connflood":
        return _connflood(event["host"], int(event["port"]), event["seconds"], event.get("threads", 4), event.get("hold", 0))
    if action == "logflood":
        # Lines of event["line"] bytes (no newline inside) until event["bytes"] were written.
        line = "L" * (event.get("line", 65536) - 1) + "\n"
        written = 0
        out = sys.stdout
        while written < event["bytes"]:
            out.write(line)
            written += len(line)
        out.flush()
        return {"count": count, "written": written}
    if action == "forkbomb":
        return dict(_forkbomb(event.get("limit", 5000), event.get("hold", 30)), count=count)
    raise ValueError("unknown action " + action)
