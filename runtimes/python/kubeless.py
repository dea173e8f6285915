#!/usr/bin/env python3
"""Kubeless Python runtime: the kubeless runtime contract (runtimes/README.md) with the standard library only.

Serves on FUNC_HOST:FUNC_PORT (default 0.0.0.0:8080), one thread per connection:

- ``GET /healthz`` answers 200 ``OK``; ``GET /metrics`` answers the Prometheus text format with
  ``function_calls_total``, ``function_failures_total`` and ``function_duration_seconds`` (label
  ``method``, the HTTP method);
- every other request (any method) calls ``handler(event, context)`` from
  ``<KUBELESS_INSTALL_VOLUME>/<MOD_NAME>.py``; dependencies are imported from
  ``<KUBELESS_INSTALL_VOLUME>/site-packages`` (``pip install --target``).

The function runs in a worker process (``kubeless.py --worker``, started by the server), one thread
per invocation; the server process only speaks HTTP, so it answers every request even when the
function holds the worker's GIL. When an invocation has not returned after FUNC_TIMEOUT seconds the
server answers 408 and asks the worker to raise ``FunctionTimeout`` (a ``BaseException``) in that
thread. A function that does not stop within ``STUCK_GRACE_S`` (it swallows the exception, or it is
blocked in a C call) gets its worker replaced: new invocations go to a new worker, and the old one is
killed once its other invocations have answered. A raise answers 500, a body over REQ_MB_LIMIT MiB
413, invalid JSON or an invalid CloudEvent 400. SIGTERM stops accepting connections, waits for the
requests in flight (bounded by FUNC_TIMEOUT) and exits 0.

Set FUNC_TLS_CERT_FILE and FUNC_TLS_KEY_FILE to serve HTTPS; add FUNC_TLS_CLIENT_CA_FILE to require
client certificates signed by that CA (mTLS). See runtimes/README.md for the whole contract.
"""

import asyncio
import base64
import ctypes
import datetime
import http.client
import importlib.util
import inspect
import io
import json
import os
import pickle
import re
import signal
import site
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT = 'text/plain; charset=utf-8'
JSON_TYPE = 'application/json; charset=utf-8'
METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
STRUCTURED_CE = 'application/cloudevents+json'
# Past the body limit, up to this many more bytes are read and thrown away before the 413 is sent,
# so a client still writing its body reads the answer instead of a reset connection.
DISCARD_LIMIT = 8 * 1024 * 1024
# Idle keep-alive connections are kept longer than the usual client and proxy idle timeouts.
IDLE_TIMEOUT_S = 65
TLS_HANDSHAKE_TIMEOUT_S = 10
TLS_RELOAD_INTERVAL_S = 30
BINARY_TYPES = frozenset([
    'application/octet-stream', 'application/zip', 'application/gzip', 'application/pdf',
    'application/protobuf', 'application/x-protobuf',
])
BINARY_PREFIXES = ('image/', 'audio/', 'video/', 'font/', 'multipart/')
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
DEFAULT_TIMEOUT_S = 180.0
# The triggers' largest event is 1 MiB of data by default, which structured mode sends base64-encoded
# (+1/3) inside JSON next to attributes, extensions and escaping: 3 MiB leaves room for all of it.
DEFAULT_BODY_LIMIT_MB = 3.0
# Binary mode carries a Kafka key and headers in ce-* headers (http.server allows 100 lines of 64 KiB).
DEFAULT_MAX_HEADER_KB = 64
DEFAULT_MAX_HEADERS = 1000
# How long a timed-out function may take to stop once told to before its worker is replaced.
STUCK_GRACE_S = 0.5
HEX = frozenset('0123456789abcdefABCDEF')


# --- configuration ---------------------------------------------------------------------------

class ConfigError(Exception):
    """Every bad environment key at once, one per line; values are never echoed."""


class Config:
    """The function container's environment, read once at start."""

    def __init__(self, env):
        issues = []

        def get(key, default=None):
            value = env.get(key, '')
            return default if value == '' else value

        def number(key, default, kind, low, high):
            raw = get(key)
            if raw is None:
                return default
            try:
                value = kind(raw)
            except ValueError:
                issues.append('%s: must be a number' % key)
                return default
            if not low <= value <= high:
                issues.append('%s: must be from %s to %s' % (key, low, high))
            return value

        self.function_name = get('FUNC_HANDLER')
        self.module_name = get('MOD_NAME')
        for key in ('FUNC_HANDLER', 'MOD_NAME'):
            if get(key) is None:
                issues.append('%s: required' % key)
        self.warnings = []
        self.timeout = number('FUNC_TIMEOUT', DEFAULT_TIMEOUT_S, float, 0, 2e6)
        if self.timeout == 0:
            # A Function created with timeout "0" must not crash-loop: 0 means the default.
            self.timeout = DEFAULT_TIMEOUT_S
            self.warnings.append('FUNC_TIMEOUT=0 is not a timeout: using the default, %ss' % format_number(DEFAULT_TIMEOUT_S))
        self.runtime = get('FUNC_RUNTIME')
        self.memory_limit = get('FUNC_MEMORY_LIMIT')
        self.port = number('FUNC_PORT', 8080, int, 0, 65535)
        self.host = get('FUNC_HOST', '0.0.0.0')
        self.install_dir = get('KUBELESS_INSTALL_VOLUME', '/kubeless')
        self.body_limit = int(number('REQ_MB_LIMIT', DEFAULT_BODY_LIMIT_MB, float, 1e-6, 4096) * 1024 * 1024)
        self.max_header_bytes = number('FUNC_MAX_HEADER_KB', DEFAULT_MAX_HEADER_KB, int, 1, 1024 * 1024) * 1024
        self.max_headers = number('FUNC_MAX_HEADERS', DEFAULT_MAX_HEADERS, int, 1, 1000000)
        self.tls_cert = get('FUNC_TLS_CERT_FILE')
        self.tls_key = get('FUNC_TLS_KEY_FILE')
        self.tls_client_ca = get('FUNC_TLS_CLIENT_CA_FILE')
        if (self.tls_cert is None) != (self.tls_key is None):
            issues.append('FUNC_TLS_CERT_FILE and FUNC_TLS_KEY_FILE: set both or neither')
        if self.tls_client_ca is not None and self.tls_cert is None:
            issues.append('FUNC_TLS_CLIENT_CA_FILE: needs FUNC_TLS_CERT_FILE and FUNC_TLS_KEY_FILE (mTLS is served over TLS)')
        if issues:
            raise ConfigError('invalid configuration:\n  ' + '\n  '.join(issues))


def format_number(value):
    """Numbers as JavaScript prints them (1 not 1.0), so both runtimes write the same text."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# --- what the function sees --------------------------------------------------------------------

class FunctionTimeout(BaseException):
    """Raised inside a function's thread when its invocation timed out (not an Exception: a bare
    ``except Exception`` in the function does not swallow it)."""


class FunctionResponse(object):
    """A return value with a status code and headers; built by ``context.respond``."""
    __slots__ = ('body', 'status', 'headers')

    def __init__(self, body, status, headers):
        self.body = body
        self.status = status
        self.headers = headers


class Context(dict):
    """``context``: the dict of the contract plus ``respond(body, status=..., headers=...)``."""

    def respond(self, body=None, status=None, headers=None):
        if status is not None and (not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 999):
            raise ValueError('respond: status must be an integer from 100 to 999, got %r' % (status,))
        return FunctionResponse(body, status, headers)

    def extension_bytes(self, event, name):
        """The raw bytes of a CloudEvent extension: ``<name>b64`` base64-decoded when the event carries
        that form (a Kafka key or header that is not UTF-8 arrives as ``partitionkeyb64``,
        ``kafkaheader<name>b64``), else ``<name>`` as UTF-8; None when the event has neither."""
        return extension_bytes(event.get('extensions', {}).get('cloudevent'), name)


def extension_bytes(attributes, name):
    if not attributes:
        return None
    encoded = attributes.get(name + 'b64')
    if isinstance(encoded, str):
        return base64.b64decode(encoded)
    value = attributes.get(name)
    if value is None:
        return None
    return (value if isinstance(value, str) else json.dumps(value)).encode('utf-8')


class Text(str):
    """Text ``event['data']``. The original runtime passed bytes; ``decode()`` keeps functions
    written for it (``event['data'].decode()``) working."""

    def decode(self, encoding='utf-8', errors='strict'):
        return str(self)


class Request(object):
    """``event['extensions']['request']``: the parts of the HTTP request a function may need,
    with the Bottle names the original runtime exposed (``get_header``, ``body``, ``json``)."""

    def __init__(self, method, target, headers, body):
        self.method = method
        self.fullpath = target
        self.path, _, self.query_string = target.partition('?')
        self.headers = headers
        self.raw_body = body

    @property
    def query(self):
        return dict(urllib.parse.parse_qsl(self.query_string, keep_blank_values=True))

    @property
    def body(self):
        return io.BytesIO(self.raw_body)

    @property
    def json(self):
        if media_type(self.headers.get('Content-Type')) != 'application/json' or not self.raw_body:
            return None
        return json.loads(self.raw_body)

    def get_header(self, name, default=None):
        return self.headers.get(name, default)


class InvalidRequest(Exception):
    """A body that cannot be decoded as its Content-Type says, or an invalid CloudEvent (400)."""


def media_type(content_type):
    if not content_type:
        return ''
    return content_type.split(';', 1)[0].strip().lower()


def decode_body(body, media):
    """``event['data']``: parsed JSON for application/json, bytes for binary media types, else text."""
    if media == 'application/json':
        if not body:
            return Text('')
        try:
            return json.loads(body)
        except ValueError:
            raise InvalidRequest('request body is not valid JSON')
    if media in BINARY_TYPES or media.startswith(BINARY_PREFIXES):
        return body
    return Text(body.decode('utf-8', errors='replace'))


def require_attributes(attrs, mode):
    missing = [k for k in ('specversion', 'id', 'source', 'type') if not isinstance(attrs.get(k), str) or attrs.get(k) == '']
    if missing:
        raise InvalidRequest('%s CloudEvent without %s' % (mode, ', '.join(missing)))
    if attrs['specversion'] not in ('1.0', '0.3'):
        raise InvalidRequest('unsupported CloudEvents specversion %s' % json.dumps(attrs['specversion']))
    return attrs


def unquote_header(value):
    """RFC 7230 section 3.2.6 quoted-string, reversed (older CloudEvents senders quoted values)."""
    out, i, end = [], 1, len(value) - 1
    while i < end:
        c = value[i]
        if c == '\\' and i < end - 1:
            i += 1
            c = value[i]
        out.append(c)
        i += 1
    return ''.join(out)


def decode_header_value(name, raw):
    """One ce-* value as the HTTP binding decodes it (section 3.1.3.2): a double-quoted value is
    unquoted, then one round of percent-decoding, and the bytes are read as UTF-8. A % not followed
    by two hex digits is kept as sent; characters that arrived unencoded count as the bytes they were
    (http.server reads header bytes as Latin-1). Bytes that are not valid UTF-8 raise InvalidRequest
    (400), as the binding requires: binary values travel as <name>b64 extensions instead."""
    value = unquote_header(raw) if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"' else raw
    if '%' not in value and value.isascii():
        return value
    out = bytearray()
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == '%' and i + 2 < n and value[i + 1] in HEX and value[i + 2] in HEX:
            out.append(int(value[i + 1:i + 3], 16))
            i += 3
            continue
        code = ord(c)
        if code > 0xff:
            out += c.encode('utf-8', errors='surrogatepass')
        else:
            out.append(code)
        i += 1
    try:
        return bytes(out).decode('utf-8')
    except UnicodeDecodeError:
        raise InvalidRequest('ce-%s: the percent-decoded value is not valid UTF-8' % name)


def binary_cloudevent(headers):
    """Attributes of a binary-mode CloudEvent (``ce-*`` headers), or None without ce-specversion."""
    if headers.get('ce-specversion') is None:
        return None
    attrs = {}
    for name in set(k.lower() for k in headers.keys()):
        if name.startswith('ce-'):
            value = ','.join(headers.get_all(name))
            attrs[name[3:]] = decode_header_value(name[3:], value)
    if headers.get('Content-Type') is not None:
        attrs['datacontenttype'] = headers.get('Content-Type')
    return require_attributes(attrs, 'binary')


def structured_cloudevent(body):
    """(attributes, data) of a structured-mode CloudEvent; data_base64 becomes bytes."""
    try:
        parsed = json.loads(body)
    except ValueError:
        raise InvalidRequest('structured CloudEvent body is not valid JSON')
    if not isinstance(parsed, dict):
        raise InvalidRequest('structured CloudEvent body is not a JSON object')
    data = parsed.pop('data', None)
    data_base64 = parsed.pop('data_base64', None)
    attrs = require_attributes(parsed, 'structured')
    if data_base64 is not None:
        if not isinstance(data_base64, str):
            raise InvalidRequest('structured CloudEvent data_base64 is not a string')
        return attrs, base64.b64decode(data_base64)
    return attrs, data


# --- metrics -----------------------------------------------------------------------------------

def escape_label(value):
    return value.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


class Metrics(object):
    """The three metrics of the contract, in the same text as the Node.js runtime writes."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_method = {}

    def record(self, method, seconds, failed):
        with self._lock:
            stats = self._by_method.get(method)
            if stats is None:
                stats = self._by_method[method] = {'calls': 0, 'failures': 0, 'sum': 0.0, 'buckets': [0] * (len(DURATION_BUCKETS) + 1)}
            stats['calls'] += 1
            if failed:
                stats['failures'] += 1
            stats['sum'] += seconds
            i = 0
            while i < len(DURATION_BUCKETS) and seconds > DURATION_BUCKETS[i]:
                i += 1
            stats['buckets'][i] += 1

    def render(self):
        calls = ['# HELP function_calls_total Number of calls to the function', '# TYPE function_calls_total counter']
        failures = ['# HELP function_failures_total Number of failed calls to the function (errors and timeouts)',
                    '# TYPE function_failures_total counter']
        durations = ['# HELP function_duration_seconds Duration of calls to the function in seconds',
                     '# TYPE function_duration_seconds histogram']
        with self._lock:
            snapshot = [(m, dict(s, buckets=list(s['buckets']))) for m, s in self._by_method.items()]
        for method, s in snapshot:
            m = 'method="%s"' % escape_label(method)
            calls.append('function_calls_total{%s} %d' % (m, s['calls']))
            failures.append('function_failures_total{%s} %d' % (m, s['failures']))
            cumulative = 0
            for i, le in enumerate(DURATION_BUCKETS):
                cumulative += s['buckets'][i]
                durations.append('function_duration_seconds_bucket{le="%s",%s} %d' % (format_number(le), m, cumulative))
            cumulative += s['buckets'][-1]
            durations.append('function_duration_seconds_bucket{le="+Inf",%s} %d' % (m, cumulative))
            durations.append('function_duration_seconds_sum{%s} %s' % (m, format_number(s['sum'])))
            durations.append('function_duration_seconds_count{%s} %d' % (m, s['calls']))
        return '\n'.join(calls + failures + durations) + '\n'


# --- the runtime -------------------------------------------------------------------------------

def load_function(config):
    """Imports <install>/<module>.py with <install> and <install>/site-packages on sys.path."""
    install = os.path.abspath(config.install_dir)
    packages = os.path.join(install, 'site-packages')
    if os.path.isdir(packages):
        sys.path.insert(0, packages)
        site.addsitedir(packages)  # .pth files (namespace packages)
    sys.path.insert(0, install)
    path = os.path.join(install, config.module_name + '.py')
    if not os.path.isfile(path):
        raise ImportError('function module %s not found: %s does not exist' % (config.module_name, path))
    spec = importlib.util.spec_from_file_location(config.module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[config.module_name] = module
    spec.loader.exec_module(module)
    func = getattr(module, config.function_name, None)
    if not callable(func):
        raise ImportError('function module %s does not define a function named %s' % (path, config.function_name))
    return func


def raise_in_thread(thread, exc_type):
    """Asks the interpreter to raise exc_type in thread at its next bytecode (best effort)."""
    if thread.ident is None or not thread.is_alive():
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc_type))


def ignore_timeouts_hook(previous):
    def hook(args):
        if args.exc_type is not None and issubclass(args.exc_type, FunctionTimeout):
            return
        previous(args)
    return hook


threading.excepthook = ignore_timeouts_hook(threading.excepthook)


def iso_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


# --- the function worker process ------------------------------------------------------------------
# Frames on the socket pair between the server and its worker: a 4-byte length, then a pickle.
# server -> worker: ('call', id, event), ('cancel', id)
# worker -> server: ('ready',), ('loadfail', message), ('done', id, outcome, result)
#   outcome 'ok' (result: status, headers, content type, payload), 'error' (the traceback is on
#   the worker's stderr), 'stopped' (it ended with FunctionTimeout after a cancel)

FRAME = struct.Struct('!I')


def send_frame(sock, lock, message):
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    with lock:
        sock.sendall(FRAME.pack(len(data)) + data)


def recv_exact(sock, n):
    chunks, left = [], n
    while left > 0:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b''.join(chunks)


def recv_frame(sock):
    """The next message, or None when the other side is gone."""
    head = recv_exact(sock, FRAME.size)
    if head is None:
        return None
    body = recv_exact(sock, FRAME.unpack(head)[0])
    return None if body is None else pickle.loads(body)


def worker_main(fd):
    """``kubeless.py --worker <fd>``: loads the function and runs invocations, one thread each."""
    sock = socket.socket(fileno=fd)
    lock = threading.Lock()
    # Signals are the server's business: it drains, then ends this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The function's prints reach the log even when this process is killed later.
    sys.stdout.reconfigure(line_buffering=True)
    try:
        config = Config(os.environ)
        func = load_function(config)
    except BaseException:
        send_frame(sock, lock, ('loadfail', ''.join(traceback.format_exception_only(*sys.exc_info()[:2])).strip()))
        sys.exit(1)
    context = Context({
        'function-name': config.function_name,
        'timeout': config.timeout,
        'runtime': config.runtime,
        'memory-limit': config.memory_limit,
    })
    threads = {}

    def run(call_id, event):
        message = ('done', call_id, 'error', None)
        try:
            result = func(event, context)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            try:
                message = ('done', call_id, 'ok', render_result(result))
            except Exception as exc:  # an unserialisable value or a bad header from respond()
                error('function result could not be sent: %r' % (exc,))
        except FunctionTimeout:
            message = ('done', call_id, 'stopped', None)
        except BaseException as exc:  # noqa: B902 - the function's failure, reported as 500
            error('function failed: ' + ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
        finally:
            threads.pop(call_id, None)
        try:
            send_frame(sock, lock, message)
        except OSError:
            pass  # the server is gone; this process ends with it

    send_frame(sock, lock, ('ready',))
    while True:
        message = recv_frame(sock)
        if message is None:
            os._exit(0)  # the server is gone: so is this worker, threads and all
        if message[0] == 'call':
            thread = threading.Thread(target=run, args=(message[1], message[2]), name='function', daemon=True)
            threads[message[1]] = thread
            thread.start()
        elif message[0] == 'cancel':
            thread = threads.get(message[1])
            if thread is not None:
                raise_in_thread(thread, FunctionTimeout)


def error(message):
    sys.stderr.write('%s %s\n' % (iso_now(), message))
    sys.stderr.flush()


class WorkerStartError(Exception):
    """The worker could not load the function."""


class Worker(object):
    """The server's side of one worker process: calls in flight and their answers."""

    def __init__(self, on_gone):
        parent, child = socket.socketpair()
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--worker', str(child.fileno())],
                                        pass_fds=[child.fileno()], stdin=subprocess.DEVNULL)
        child.close()
        self.sock = parent
        self.lock = threading.Lock()
        self.calls = {}  # id -> [threading.Event, outcome, result]
        self.retired = False
        self._on_gone = on_gone
        self._state = threading.Lock()
        message = recv_frame(self.sock)
        if message is None or message[0] != 'ready':
            self.kill()
            raise WorkerStartError(message[1] if message is not None and message[0] == 'loadfail' else
                                   'the function worker exited before loading the function')
        threading.Thread(target=self._read, name='worker-reader', daemon=True).start()

    def _read(self):
        while True:
            try:
                message = recv_frame(self.sock)
            except Exception:  # closed (OSError) or a garbled frame: either way the worker is lost
                message = None
            if message is None:
                break
            with self._state:
                call = self.calls.get(message[1])
            if call is not None:
                call[1], call[2] = message[2], message[3]
                call[0].set()
        # Gone: a crash (os._exit, a signal) or killed. The runtime learns it first, so a call that
        # comes once the client has its 500 waits for the replacement instead of meeting this dead
        # worker; then the calls still waiting fail.
        self._on_gone(self)
        with self._state:
            waiting = list(self.calls.values())
        for call in waiting:
            if not call[0].is_set():
                call[1] = 'crash'
                call[0].set()

    def start(self, call_id, event):
        call = [threading.Event(), None, None]
        with self._state:
            self.calls[call_id] = call
        send_frame(self.sock, self.lock, ('call', call_id, event))
        return call

    def finish(self, call_id):
        """The call was answered to its client; a retired worker dies with its last one."""
        with self._state:
            self.calls.pop(call_id, None)
            last = self.retired and not self.calls
        if last:
            self.kill()

    def cancel(self, call_id):
        try:
            send_frame(self.sock, self.lock, ('cancel', call_id))
        except OSError:
            pass

    def retire(self):
        with self._state:
            self.retired = True
            last = not self.calls
        if last:
            self.kill()

    def kill(self):
        try:
            self.process.kill()
        except OSError:
            pass
        self.process.wait()
        self.sock.close()


class Runtime(object):
    """State shared by all request threads: the worker, metrics, in-flight accounting, drain."""

    def __init__(self, config):
        self.config = config
        self.metrics = Metrics()
        self.draining = False
        self._in_flight = 0
        self._idle = threading.Condition()
        self._log_lock = threading.Lock()
        self._worker_lock = threading.Condition()
        self._worker = None
        self._replacing = False
        self._ids = 0
        self._workers = set()

    def _new_worker(self):
        worker = Worker(self._gone)
        with self._worker_lock:
            self._workers.add(worker)
        return worker

    def start(self):
        """Starts the first worker; raises WorkerStartError when the function cannot be loaded."""
        self._worker = self._new_worker()

    def stop_workers(self):
        """Kills every worker (at exit: a worker stuck in C code would not notice the server left)."""
        with self._worker_lock:
            workers = list(self._workers)
        for worker in workers:
            worker.kill()

    def _gone(self, worker):
        with self._worker_lock:
            self._workers.discard(worker)
        if not worker.retired and not self.draining:
            try:
                code = worker.process.wait(1)
            except subprocess.TimeoutExpired:
                code = None
            self.error('the function worker exited (exit code %s): starting a new one' % code)
            self._replace(worker)

    def _replace(self, old):
        """Retires ``old`` and starts a new worker in the background; calls wait for it."""
        with self._worker_lock:
            if self._worker is not old or self._replacing:
                return
            self._replacing = True
            self._worker = None
        old.retire()

        def spawn():
            began = time.perf_counter()
            while True:
                try:
                    worker = self._new_worker()
                    break
                except WorkerStartError as exc:
                    # The function no longer loads: exit and let the kubelet restart the container.
                    self.error('kubeless runtime stopped: could not replace the function worker: %s' % (exc,))
                    self.stop_workers()
                    os._exit(1)
                except OSError as exc:
                    self.error('could not start a function worker, retrying in 1s: %s' % (exc,))
                    time.sleep(1)
            with self._worker_lock:
                self._worker = worker
                self._replacing = False
                self._worker_lock.notify_all()
            self.error('function worker replaced in %dms' % ((time.perf_counter() - began) * 1000))

        threading.Thread(target=spawn, name='worker-spawn', daemon=True).start()

    def call(self, event):
        """Runs the function in the worker; ('ok', rendered), ('error', None), ('timeout', None) or
        ('crash', None)."""
        deadline = time.monotonic() + self.config.timeout
        with self._worker_lock:
            self._ids += 1
            call_id = self._ids
            while self._worker is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return 'timeout', None
                self._worker_lock.wait(left)
            worker = self._worker
        try:
            call = worker.start(call_id, event)
        except OSError:
            worker.finish(call_id)
            return 'crash', None
        if call[0].wait(max(0.0, deadline - time.monotonic())):
            worker.finish(call_id)
            return call[1], call[2]
        worker.cancel(call_id)
        timer = threading.Timer(STUCK_GRACE_S, self._stuck, args=(worker, call_id, call))
        timer.daemon = True
        timer.start()
        return 'timeout', None

    def _stuck(self, worker, call_id, call):
        """STUCK_GRACE_S after a cancel: a function still running holds a thread (and maybe the GIL)
        of its worker for good, so the worker is replaced."""
        if not call[0].is_set():
            self.error('a timed-out function did not stop within %ss of its timeout: replacing its worker' % format_number(STUCK_GRACE_S))
            self._replace(worker)
        worker.finish(call_id)

    def enter(self):
        with self._idle:
            self._in_flight += 1

    def leave(self):
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    @property
    def in_flight(self):
        return self._in_flight

    def wait_idle(self, timeout):
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def log(self, line):
        with self._log_lock:
            sys.stdout.write(line + '\n')
            sys.stdout.flush()

    def error(self, message):
        error(message)


async def _await(awaitable):
    return await awaitable


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'kubeless-python'
    sys_version = ''
    timeout = IDLE_TIMEOUT_S
    # Headers and body go out in two writes: without TCP_NODELAY the second waits for a delayed ACK.
    disable_nagle_algorithm = True
    runtime = None  # set by main()

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            # The handshake runs here, in the connection's thread, not in the accept loop.
            self.request.settimeout(TLS_HANDSHAKE_TIMEOUT_S)
            self.request.do_handshake()
        BaseHTTPRequestHandler.setup(self)

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 - the base class' signature
        pass  # one access log line per request is written by _dispatch

    def __getattr__(self, name):
        # Every method invokes the function (do_GET, do_POST, do_OPTIONS, ...).
        if name.startswith('do_'):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self):
        start = time.perf_counter()
        runtime = self.runtime
        method = self.command
        path = self.path.partition('?')[0]
        status = 500
        if sum(len(k) + len(v) + 4 for k, v in self.headers.items()) > runtime.config.max_header_bytes:
            # http.server bounds each line and the count, not the whole head (Node answers 431 too).
            self.close_connection = True
            status = self._send(431, TEXT, b'Request Header Fields Too Large', close=True)
        elif method == 'GET' and path == '/healthz':
            status = self._send(200, TEXT, b'OK')
        elif method == 'GET' and path == '/metrics':
            status = self._send(200, METRICS_TYPE, runtime.metrics.render().encode('utf-8'))
        else:
            runtime.enter()
            try:
                status = self._invoke(method)
            except (ConnectionError, socket.timeout):
                self.close_connection = True
            finally:
                runtime.leave()
        runtime.log('%s %s "%s %s" %s %.3fms' % (iso_now(), self.client_address[0], method, path, status, (time.perf_counter() - start) * 1000))

    def _read_body(self):
        """(body, None) or (None, close) when the body is over the limit; close: answer at once and
        close because the rest of it is not worth reading."""
        limit = self.runtime.config.body_limit
        encoding = (self.headers.get('Transfer-Encoding') or '').lower()
        if 'chunked' in encoding:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError('client closed while sending a chunked body')
                try:
                    size = int(line.split(b';', 1)[0].strip(), 16)
                except ValueError:
                    raise InvalidRequest('malformed chunked body')
                if size == 0:
                    while self.rfile.readline(65537) not in (b'\r\n', b'\n', b''):
                        pass  # trailers
                    break
                total += size
                if total > limit + DISCARD_LIMIT:
                    return None, True
                data = self.rfile.read(size)
                self.rfile.readline()
                if total <= limit:
                    chunks.append(data)
            if total > limit:
                return None, False
            return b''.join(chunks), False
        length = self.headers.get('Content-Length')
        if length is None:
            return b'', False
        try:
            n = int(length)
        except ValueError:
            raise InvalidRequest('malformed Content-Length')
        if n > limit + DISCARD_LIMIT:
            return None, True
        if n > limit:
            left = n
            while left > 0:
                got = self.rfile.read(min(left, 65536))
                if not got:
                    raise ConnectionError('client closed while sending the body')
                left -= len(got)
            return None, False
        body = self.rfile.read(n)
        if len(body) < n:
            raise ConnectionError('client closed while sending the body')
        return body, False

    def _event(self, body):
        headers = self.headers
        media = media_type(headers.get('Content-Type'))
        cloudevent = binary_cloudevent(headers)
        if cloudevent is None and media == STRUCTURED_CE:
            cloudevent, data = structured_cloudevent(body)
        else:
            data = decode_body(body, media)
        event = {
            'data': data,
            'event-id': headers.get('event-id'),
            'event-type': headers.get('event-type'),
            'event-time': headers.get('event-time'),
            'event-namespace': headers.get('event-namespace'),
            'extensions': {'request': Request(self.command, self.path, headers, body)},
        }
        if cloudevent is not None:
            # The kubeless headers win when both are present (the triggers send both, with the same values).
            for key, attr in (('event-id', 'id'), ('event-type', 'type'), ('event-time', 'time'), ('event-namespace', 'source')):
                if event[key] is None and isinstance(cloudevent.get(attr), str):
                    event[key] = cloudevent[attr]
            event['extensions']['cloudevent'] = cloudevent
        return event

    def _invoke(self, method):
        runtime = self.runtime
        try:
            body, close = self._read_body()
            if body is None:
                return self._send(413, TEXT, ('Request body larger than %d bytes' % runtime.config.body_limit).encode('utf-8'), close=close)
            event = self._event(body)
        except InvalidRequest as exc:
            return self._send(400, TEXT, str(exc).encode('utf-8'), close=True)
        started = time.perf_counter()
        outcome, value = runtime.call(event)
        elapsed = time.perf_counter() - started
        if outcome == 'timeout':
            runtime.metrics.record(method, elapsed, True)
            # The path only: a query string may carry secrets.
            runtime.error('function timed out after %ss: %s %s' % (format_number(runtime.config.timeout), method, self.path.partition('?')[0]))
            return self._send(408, TEXT, b'Timeout while processing the function')
        if outcome != 'ok':
            # 'error': the worker wrote the traceback; 'crash': the worker process died meanwhile.
            runtime.metrics.record(method, elapsed, True)
            if outcome == 'crash':
                runtime.error('function worker exited during the call: %s %s' % (method, self.path.partition('?')[0]))
            return self._send(500, TEXT, b'Internal Server Error')
        status, headers, content_type, payload = value
        runtime.metrics.record(method, elapsed, False)
        return self._send(status, content_type, payload, headers)

    def _send(self, status, content_type, payload, headers=None, close=False):
        self.send_response(status)
        names = set()
        for name, value in headers or ():
            names.add(name.lower())
            self.send_header(name, value)
        if content_type is not None and 'content-type' not in names:
            self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(payload)))
        if close or self.runtime.draining:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(payload)
        self.wfile.flush()
        return status


def render_result(value):
    """(status, [(name, value)], content type or None, payload bytes) for a function's return value."""
    status, headers, body = 200, [], value
    if isinstance(value, FunctionResponse):
        body = value.body
        if value.status is not None:
            status = value.status
        for name, v in (value.headers or {}).items():
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                item = str(item)
                if not TOKEN.match(str(name)) or '\r' in item or '\n' in item:
                    raise ValueError('invalid header %r' % (name,))
                headers.append((str(name), item))
    if body is None:
        return status, headers, None, b''
    if isinstance(body, str):
        return status, headers, TEXT, body.encode('utf-8')
    if isinstance(body, (bytes, bytearray, memoryview)):
        return status, headers, 'application/octet-stream', bytes(body)
    return status, headers, JSON_TYPE, json.dumps(body, separators=(',', ':'), ensure_ascii=False, allow_nan=False).encode('utf-8')


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops connections when a trigger opens many at once.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, ssl.SSLError):
            sys.stderr.write('%s TLS handshake with %s failed: %s\n' % (iso_now(), client_address[0], exc))
            sys.stderr.flush()
            return
        if isinstance(exc, (ConnectionError, socket.timeout)):
            return  # a client that closed or reset its connection: nothing to report
        ThreadingHTTPServer.handle_error(self, request, client_address)


def tls_context(config):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    if config.tls_client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(config.tls_client_ca)
    return context


def watch_tls(config, context, runtime):
    """Reloads rotated certificates into the live context (new connections use them)."""
    files = [f for f in (config.tls_cert, config.tls_key, config.tls_client_ca) if f is not None]

    def fingerprint():
        out = []
        for f in files:
            try:
                st = os.stat(f)
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return out

    def loop():
        last = fingerprint()
        while True:
            time.sleep(TLS_RELOAD_INTERVAL_S)
            now = fingerprint()
            if now == last:
                continue
            try:
                context.load_cert_chain(config.tls_cert, config.tls_key)
                if config.tls_client_ca is not None:
                    context.load_verify_locations(config.tls_client_ca)
                last = now
                runtime.error('TLS certificates reloaded')
            except (OSError, ssl.SSLError) as exc:
                runtime.error('TLS certificates changed but could not be read, keeping the old ones: %s' % (exc,))

    threading.Thread(target=loop, name='tls-reload', daemon=True).start()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--worker':
        worker_main(int(sys.argv[2]))
        return
    try:
        config = Config(os.environ)
    except Exception:
        sys.stderr.write('kubeless runtime failed to start: %s\n' % ''.join(traceback.format_exception_only(*sys.exc_info()[:2])).strip())
        sys.exit(1)
    for warning in config.warnings:
        error('warning: ' + warning)
    # http.server reads at most 100 header lines of 64 KiB each (more answers 431): binary-mode
    # CloudEvents carry a Kafka key and headers in ce-* headers.
    http.client._MAXHEADERS = config.max_headers
    http.client._MAXLINE = max(http.client._MAXLINE, config.max_header_bytes)
    runtime = Runtime(config)
    try:
        runtime.start()
    except (WorkerStartError, OSError) as exc:
        sys.stderr.write('kubeless runtime failed to start: %s\n' % (exc,))
        sys.exit(1)
    Handler.runtime = runtime
    if ':' in config.host:
        Server.address_family = socket.AF_INET6
    try:
        server = Server((config.host, config.port), Handler)
    except OSError as exc:
        sys.stderr.write('kubeless runtime failed to start: cannot listen on %s:%s: %s\n' % (config.host, config.port, exc))
        sys.exit(1)
    scheme = 'http'
    if config.tls_cert is not None:
        context = tls_context(config)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        watch_tls(config, context, runtime)
        scheme = 'https'
    host, port = server.server_address[:2]
    runtime.log('kubeless runtime listening on %s://%s:%s (function %s.%s, timeout %ss)' % (
        scheme, '[%s]' % host if ':' in host else host, port, config.module_name, config.function_name, format_number(config.timeout)))

    drained = threading.Event()

    def drain(signame):
        runtime.draining = True
        runtime.log('received %s: draining %d request(s) in flight' % (signame, runtime.in_flight))
        server.shutdown()  # the accept loop stops ...
        server.socket.close()  # ... and new connections are refused
        idle = runtime.wait_idle(config.timeout + 1)
        runtime.log('drained, exiting' if idle else 'drain timed out, exiting')
        drained.set()

    def on_signal(signum, _frame):
        if not runtime.draining:
            runtime.draining = True
            threading.Thread(target=drain, args=(signal.Signals(signum).name,), name='drain', daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.serve_forever()
    drained.wait()
    runtime.stop_workers()
    sys.stdout.flush()
    sys.stderr.flush()
    # Threads of idle keep-alive connections or of runaway functions must not hold the exit.
    os._exit(0)


if __name__ == '__main__':
    main()
