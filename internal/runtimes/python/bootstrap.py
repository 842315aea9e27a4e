"""Hearth's runtime interface client (RIC) for Python.

It is the "runtime" of a python3.x function inside a Hearth sandbox: it polls the
Lambda Runtime API that hearth-init serves (AWS_LAMBDA_RUNTIME_API), calls the
handler named by _HANDLER and posts back the result or the error, in the shapes
AWS's own Python RIC (awslambdaric) uses, so that unmodified functions, and the
callers that parse their errors, see what they see on AWS.

Only the standard library is used, and as little of it as possible before the first
invocation: every import here is paid on each cold start. In particular the HTTP
client is a small HTTP/1.1 client on one kept-alive socket, because http.client
imports email and ssl, which alone cost more than the rest of the start-up.

Hearth starts it as `python3 -S -u /var/runtime/bootstrap.pyc`, this file compiled
beforehand by the same interpreter (see runtimes.go), or as bootstrap.py itself:
-u so print() reaches the log at once, in the invocation that printed it; -S so
site's .pth hooks do not run on every cold start (the site directories are added
back by _setup_sys_path below, without the hooks).
"""

import os
import sys
import time

# The event and the result are JSON on every invocation, so json is imported eagerly.
import json

try:
    # socket.py wraps the C module with enum and selectors, which cost more to import
    # than the whole client; the few calls used here are the C module's own.
    import _socket as _sock
except ImportError:  # pragma: no cover - every CPython has _socket
    import socket as _sock

_API_PREFIX = "/2018-06-01/runtime/"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
# The file name this code was compiled with, which is what traceback frames carry.
# It is __file__ when the source runs, and /var/runtime/bootstrap.py when Hearth runs
# the bytecode it compiled beforehand (bootstrap.pyc, see runtimes.go).
_THIS_FILE = (lambda: None).__code__.co_filename

# The request id of the invocation in progress, for the logging filter.
_request_id = None
_tenant_id = None


class _Fault(Exception):
    """An error the runtime reports under a Runtime.* type (awslambdaric's FaultException)."""

    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.exception_type = exception_type
        self.msg = msg
        self.trace = trace


class _Closed(Exception):
    """The Runtime API closed the connection before a complete response."""


class _RuntimeAPI:
    """A minimal HTTP/1.1 client for the Runtime API on one kept-alive connection.

    The Runtime API is a local, trusted peer, so this reads exactly what a server
    sends (Content-Length, chunked, or until close) and nothing more.
    """

    def __init__(self, address):
        self.host_header = address
        host, _, port = address.rpartition(":")
        if not host:  # "9001" alone
            host = "127.0.0.1"
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        self.host = host
        self.port = int(port or 9001)
        self.sock = None
        self.buf = bytearray()
        self.user_agent = "hearth-python/%d.%d.%d" % sys.version_info[:3]

    def _connect(self):
        # A bytes host: getaddrinfo encodes a str host with the idna codec, and importing
        # it (encodings.idna, stringprep, unicodedata) cost ~2 ms of every cold start.
        try:
            host = self.host.encode("ascii")
        except UnicodeError:
            host = self.host
        family, _, proto, _, addr = _sock.getaddrinfo(host, self.port, 0, _sock.SOCK_STREAM)[0]
        s = _sock.socket(family, _sock.SOCK_STREAM, proto)
        try:
            # Requests are written whole in one send; Nagle would only add latency.
            s.setsockopt(_sock.IPPROTO_TCP, _sock.TCP_NODELAY, 1)
            s.connect(addr)
        except BaseException:
            s.close()
            raise
        self.sock = s
        self.buf = bytearray()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = bytearray()

    def request(self, method, path, body=None, headers=()):
        """Sends one request and returns (status, headers with lower-case names, body)."""
        lines = ["%s %s%s HTTP/1.1" % (method, _API_PREFIX, path), "Host: " + self.host_header, "User-Agent: " + self.user_agent]
        if body is not None:
            lines.append("Content-Length: %d" % len(body))
        for name, value in headers:
            # A header value must not break the request; error types are identifiers, but be safe.
            lines.append("%s: %s" % (name, str(value).replace("\r", " ").replace("\n", " ")))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
        if body:
            data += body
        for attempt in (0, 1):
            reused = self.sock is not None
            if not reused:
                self._connect()
            try:
                self.sock.sendall(data)
                return self._read_response()
            except (OSError, _Closed):
                got_response = len(self.buf) > 0
                self.close()
                # A kept-alive connection may have been closed by the server while idle
                # (or across a freeze); that is the one case worth one more try.
                if not reused or attempt or got_response:
                    raise
        raise _Closed()  # unreachable

    def _fill(self, want=65536):
        chunk = self.sock.recv(max(want, 65536))
        if not chunk:
            raise _Closed()
        self.buf += chunk

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill(n - len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            self._fill()

    def _read_response(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head = bytes(self.buf[:end]).decode("utf-8", "surrogateescape").split("\r\n")
        del self.buf[: end + 4]
        status = int(head[0].split(" ", 2)[1])
        hdrs = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            hdrs[name.strip().lower()] = value.strip()
        if status < 200 or status in (204, 304):
            body = b""
        elif "chunked" in hdrs.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self._read_line().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self._read_line():  # trailers, up to the empty line
                        pass
                    break
                parts.append(self._read_exact(size))
                self._read_line()
            body = b"".join(parts)
        elif "content-length" in hdrs:
            body = self._read_exact(int(hdrs["content-length"]))
        else:
            # No length: the body runs to the end of the connection.
            try:
                while True:
                    self._fill()
            except _Closed:
                pass
            body = bytes(self.buf)
            self.close()
        if hdrs.get("connection", "").lower() == "close" or head[0].startswith("HTTP/1.0"):
            self.close()
        if status == 100:
            return self._read_response()
        return status, hdrs, body

    def post(self, path, payload, headers=()):
        status, _, body = self.request("POST", path, payload, headers)
        if status // 100 != 2:
            # Not fatal: hearth-init may refuse a late or oversized response, and the
            # loop must go on to the next invocation (or be stopped by hearth-init).
            sys.stderr.write(
                "Hearth runtime: POST %s%s answered %d: %s\n"
                % (_API_PREFIX, path, status, body[:512].decode("utf-8", "replace"))
            )
        return status


def _quote_id(request_id):
    # Request ids are UUIDs; anything else is percent-encoded like the node RIC's
    # encodeURIComponent, without importing urllib for the common case.
    if request_id.replace("-", "").isalnum() and request_id.isascii():
        return request_id
    from urllib.parse import quote

    return quote(request_id, safe="")


# ---------------------------------------------------------------------------
# The context object (awslambdaric's lambda_context.py, same attributes).

_W3C_ALLOWED_FIELDS = ("traceparent", "tracestate", "baggage")


class LambdaContext(object):
    def __init__(self, invoke_id, client_context, cognito_identity, epoch_deadline_time_in_ms, invoked_function_arn=None, tenant_id=None):
        env = os.environ
        self.aws_request_id = invoke_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, as on AWS (awslambdaric reads it straight from the environment).
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self._w3c_fields = _extract_w3c(client_context)

        self.client_context = _make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _make_obj_from_dict(Client, self.client_context.client)

        # Always an object, as on AWS, with None fields when the invocation carries no identity.
        self.identity = _make_obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def w3c(self):
        return dict(self._w3c_fields)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return f"{self.__class__.__name__}([cognito_identity_id={self.cognito_identity_id},cognito_identity_pool_id={self.cognito_identity_pool_id}])"


class Client(object):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}([installation_id={self.installation_id},app_title={self.app_title},"
            f"app_version_name={self.app_version_name},app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}])"
        )


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return f"{self.__class__.__name__}([custom={self.custom},env={self.env},client={self.client}])"


def _make_obj_from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, d.get(field, None))
    return obj


def _extract_w3c(client_context):
    # AWS moves clientContext.w3c out of client_context and behind context.w3c().
    if not isinstance(client_context, dict) or "w3c" not in client_context:
        return {}
    raw = client_context.pop("w3c")
    if not isinstance(raw, dict):
        return {}
    return {k: raw[k] for k in _W3C_ALLOWED_FIELDS if isinstance(raw.get(k), str)}


def _parse_json_header(value, name):
    try:
        return json.loads(value)
    except Exception as e:
        raise _Fault(_Fault.LAMBDA_CONTEXT_UNMARSHAL_ERROR, "Unable to parse {} JSON: {}".format(name, str(e)))


# ---------------------------------------------------------------------------
# Marshalling (awslambdaric's lambda_runtime_marshaller.py).


class _Encoder(json.JSONEncoder):
    def default(self, o):
        # Decimal (what boto3's DynamoDB layer returns) is a number on AWS. The type is
        # recognised by name so that decimal is not imported for functions that never use it.
        t = type(o)
        if t.__name__ == "Decimal" and t.__module__ in ("decimal", "_decimal"):
            if o.is_nan() or o.is_infinite():
                return float(o)
            if o == o.to_integral_value():
                return int(o)
            return float(o)
        return super().default(o)


def _requested_python():
    env = os.environ.get("AWS_EXECUTION_ENV", "")
    prefix = "AWS_Lambda_python"
    return env[len(prefix):] if env.startswith(prefix) else ""


def _version_tuple(v):
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return ()


def _make_encoder():
    # AWS's python3.12 runtime (and later) writes non-ASCII characters as they are;
    # the older runtimes escape them. Both are the same JSON to a reader.
    return _Encoder(ensure_ascii=_version_tuple(_requested_python()) < (3, 12))


_encoder = None


def _to_json(obj):
    global _encoder
    if _encoder is None:
        _encoder = _make_encoder()
    return _encoder.encode(obj)


def _unmarshal(body, content_type):
    if content_type and not content_type.lower().startswith("application/json"):
        return body
    try:
        return json.loads(body)
    except Exception as e:
        raise _Fault(_Fault.UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(str(e)))


def _marshal(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return _to_json(response).encode("utf-8", "surrogatepass"), "application/json"
    except Exception as e:
        raise _Fault(_Fault.MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)))


# ---------------------------------------------------------------------------
# Errors, as awslambdaric shapes and logs them.


def _make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _error_from_exception(exc_info, invoke_id=None):
    import traceback

    etype, value, tb = exc_info
    # 4-tuples, as awslambdaric passes them, so format_list prints no column carets.
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    # Drop this file's own frames above the user's code.
    for i, frame in enumerate(frames):
        if frame[0] != _THIS_FILE:
            frames = frames[i:]
            break
    return _make_error(str(value), etype.__name__, traceback.format_list(frames), invoke_id)


def _log_error(error):
    if _log_format_json():
        record = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "level": "ERROR"}
        record.update(error)
        sys.stdout.write(_to_json(record) + "\n")
        return
    # One CloudWatch event per error: the lines are joined with \r, as AWS does, and
    # indentation becomes no-break spaces so that log viewers keep it.
    description = "[ERROR]"
    if error.get("errorType"):
        description += " " + error["errorType"]
    if error.get("errorMessage"):
        if error.get("errorType"):
            description += ":"
        description += " " + error["errorMessage"]
    lines = [description]
    stack_trace = error.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                stripped = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    sys.stdout.write("\r".join(lines) + "\n")


# ---------------------------------------------------------------------------
# Logging: the root logger gets AWS's handler and format, but only when something
# imports logging, so that functions that never log do not pay for importing it.


def _log_format_json():
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


_logging_configured = False


def _configure_logging(logging):
    global _logging_configured
    if _logging_configured or not hasattr(logging, "Handler") or not hasattr(logging, "getLogger"):
        return  # already done (importlib.reload), or the function's own module named logging
    _logging_configured = True
    log_format_json = _log_format_json()
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    level = {None: "", "TRACE": "DEBUG"}.get(level, level).upper()

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            sys.stdout.write(self.format(record))

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _request_id or ""
            record.tenant_id = _tenant_id
            return True

    logging.Formatter.converter = time.gmtime
    handler = LambdaLoggerHandler()
    if log_format_json:
        handler.setFormatter(_json_formatter(logging))
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    logger = logging.getLogger()
    if level in logging._nameToLevel:
        logger.setLevel(level)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


_RESERVED_LOG_FIELDS = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
    "threadName", "processName", "process", "aws_request_id", "tenant_id", "_frame_type", "taskName",
}


def _json_formatter(logging):
    import traceback
    from datetime import datetime, timezone

    encode = json.JSONEncoder(ensure_ascii=False).encode

    class JsonFormatter(logging.Formatter):
        def format(self, record):
            record.levelno = min(50, max(0, record.levelno)) // 10 * 10
            record.levelname = logging.getLevelName(record.levelno)
            exc_info = record.exc_info
            result = {
                "timestamp": datetime.fromtimestamp(record.created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "level": record.levelname,
                "message": record.getMessage(),
                "logger": record.name,
                "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
                "errorType": exc_info[0].__name__ if exc_info else None,
                "errorMessage": str(exc_info[1]) if exc_info else None,
                "requestId": getattr(record, "aws_request_id", None),
                "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
            }
            if getattr(record, "tenant_id", None) is not None:
                result["tenantId"] = record.tenant_id
            result.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED_LOG_FIELDS and k not in result)
            result = {k: v for k, v in result.items() if v is not None}
            try:
                return encode(result) + "\n"
            except TypeError:
                return encode({k: (v if isinstance(v, (str, int, float, bool, list, dict)) else str(v)) for k, v in result.items()}) + "\n"

    return JsonFormatter()


class _LoggingImportHook:
    """A meta path finder that configures logging right after its first import."""

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_configure(module):
            exec_module(module)
            try:
                _configure_logging(module)
            except Exception as e:  # never let the runtime's own set-up break an import
                sys.stderr.write("Hearth runtime: could not set up logging: %r\n" % (e,))

        spec.loader.exec_module = exec_and_configure
        return spec


def _install_logging_hook():
    if "logging" in sys.modules:
        _configure_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingImportHook())


# ---------------------------------------------------------------------------
# Start-up.


# The bundled AWS SDK (boto3, botocore and what they import), mounted read-only by
# Hearth when it is installed: runtimes.PythonSDK.
_SDK_DIR = "/var/sdk/python"


def _setup_sys_path(task_root):
    """Puts the function first on sys.path, then its layers, then the bundled SDK, as Lambda does."""
    # sys.path[0] is this file's directory (/var/runtime), which holds nothing for the function.
    here = {os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.realpath(__file__))}
    rest = [p for p in sys.path if p not in here and p != ""]
    if sys.flags.no_site:
        # Started with -S: add the interpreter's site directories back (last, where site
        # puts them), but without running their .pth files, and give back exit()/quit().
        import site

        for d in site.getsitepackages():
            if d not in rest and os.path.isdir(d):
                rest.append(d)
        site.setquit()
    versions = (_requested_python(), "%d.%d" % sys.version_info[:2])
    pythonpath = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    sys.path[:] = _ordered_sys_path(task_root, rest, versions, pythonpath, os.path.isdir)


def _ordered_sys_path(task_root, rest, versions, pythonpath, isdir):
    """Lambda's sys.path: the function's code, its layers' directories (those that
    exist), the directories of PYTHONPATH, the bundled SDK, then the interpreter's
    own (rest, in order: the standard library, then the site directories). A package
    the function or a layer ships is found before the bundled one of the same name."""
    front = [task_root]
    for version in dict.fromkeys(versions):
        if version:
            d = "/opt/python/lib/python%s/site-packages" % version
            if isdir(d):
                front.append(d)
    if isdir("/opt/python"):
        front.append("/opt/python")
    # The interpreter put PYTHONPATH's entries first in rest; they stay before the SDK.
    user = set(p for p in pythonpath if p)
    user |= set(os.path.abspath(p) for p in user)
    rest = [p for p in rest if p not in front]
    mine = [p for p in rest if p in user]
    if isdir(_SDK_DIR) and _SDK_DIR not in front and _SDK_DIR not in mine:
        mine.append(_SDK_DIR)
    return front + mine + [p for p in rest if p not in mine]


def _note_version_mismatch():
    want = _requested_python()
    have = "%d.%d" % sys.version_info[:2]
    if want and want != have:
        sys.stderr.write(
            "Hearth: python%s requested; running on Python %d.%d.%d (the host's interpreter)\n"
            % ((want,) + tuple(sys.version_info[:3]))
        )


def _get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault(_Fault.MALFORMED_HANDLER_NAME, "Bad handler '{}': {}".format(handler, str(e)))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise _Fault(_Fault.BUILT_IN_MODULE_CONFLICT, "Cannot use built-in module {} as a handler module".format(modname))
        # "src/app" is the module src.app, as in awslambdaric (importlib.import_module).
        name = modname.replace("/", ".")
        __import__(name)
        m = sys.modules[name]
    except ImportError as e:
        raise _Fault(_Fault.IMPORT_MODULE_ERROR, "Unable to import module '{}': {}".format(modname, str(e)))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise _Fault(_Fault.USER_CODE_SYNTAX_ERROR, "Syntax error in module '{}': {}".format(modname, str(e)), trace)
    try:
        return getattr(m, fname)
    except AttributeError:
        raise _Fault(_Fault.HANDLER_NOT_FOUND, "Handler '{}' missing on module '{}'".format(fname, modname))


def _handle(api, handler, headers, body):
    global _request_id, _tenant_id
    invoke_id = headers.get("lambda-runtime-aws-request-id", "")
    _request_id = invoke_id
    _tenant_id = headers.get("lambda-runtime-aws-tenant-id")
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)

    try:
        client_context = headers.get("lambda-runtime-client-context")
        cognito_identity = headers.get("lambda-runtime-cognito-identity")
        try:
            deadline = int(headers.get("lambda-runtime-deadline-ms", "0"))
        except ValueError:
            deadline = 0
        context = LambdaContext(
            invoke_id,
            _parse_json_header(client_context, "Client Context") if client_context else None,
            _parse_json_header(cognito_identity, "Cognito Identity") if cognito_identity else None,
            deadline,
            headers.get("lambda-runtime-invoked-function-arn"),
            _tenant_id,
        )
        event = _unmarshal(body, headers.get("content-type"))
        response = handler(event, context)
        payload, content_type = _marshal(response)
    except _Fault as e:
        error = _make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        error = _error_from_exception(sys.exc_info(), invoke_id)
    else:
        api.post("invocation/%s/response" % _quote_id(invoke_id), payload, (("Content-Type", content_type),))
        return

    _log_error(error)
    api.post(
        "invocation/%s/error" % _quote_id(invoke_id),
        _to_json(error).encode("utf-8", "surrogatepass"),
        (("Content-Type", "application/json"), (_ERROR_TYPE_HEADER, error["errorType"])),
    )


def main():
    env = os.environ
    for stream in (sys.stdout, sys.stderr):
        if not getattr(stream, "write_through", True):
            # Started without -u: still flush each line, so that logs stay with their invocation.
            try:
                stream.reconfigure(line_buffering=True, write_through=True)
            except (AttributeError, ValueError):
                pass
    task_root = env.get("LAMBDA_TASK_ROOT") or "/var/task"
    _setup_sys_path(task_root)
    try:
        # The function runs in its code directory, as on AWS (relative paths in user code).
        os.chdir(task_root)
    except OSError:
        pass
    _note_version_mismatch()
    _install_logging_hook()
    api = _RuntimeAPI(env.get("AWS_LAMBDA_RUNTIME_API") or "127.0.0.1:9001")

    try:
        handler = _get_handler(env.get("_HANDLER", ""))
    except Exception as e:
        if isinstance(e, _Fault):
            error = _make_error(e.msg, e.exception_type, e.trace)
        else:
            # An exception raised by the module's own code while it was imported.
            error = _error_from_exception(sys.exc_info())
        _log_error(error)
        try:
            api.post(
                "init/error",
                _to_json(error).encode("utf-8", "surrogatepass"),
                (("Content-Type", "application/json"), (_ERROR_TYPE_HEADER, error["errorType"])),
            )
        except (OSError, _Closed) as post_error:
            sys.stderr.write("Hearth runtime: could not report the init error: %s\n" % (post_error,))
        sys.exit(1)

    while True:
        try:
            status, headers, body = api.request("GET", "invocation/next")
        except (OSError, _Closed) as e:
            sys.stderr.write("Hearth runtime: GET %sinvocation/next failed: %s\n" % (_API_PREFIX, e))
            sys.exit(1)
        if status != 200:
            sys.stderr.write(
                "Hearth runtime: GET %sinvocation/next answered %d: %s\n"
                % (_API_PREFIX, status, body[:512].decode("utf-8", "replace"))
            )
            sys.exit(1)
        _handle(api, handler, headers, body)


if __name__ == "__main__":
    main()
