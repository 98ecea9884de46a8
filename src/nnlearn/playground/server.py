"""The playground's HTTP server: Python's own ``http.server``, bound to 127.0.0.1.

Security for a server that only this machine's browser should use: requests whose ``Host`` is not the
server's own address are refused (DNS rebinding), as are requests with a foreign ``Origin`` or a
cross-site ``Sec-Fetch-Site`` (another web page posting to localhost), and every POST must be
``application/json`` (which a plain HTML form cannot send).  Static files come from a fixed list, never
from a path in the URL; bodies are capped; the page gets a Content-Security-Policy that allows nothing but
this server.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import traceback
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from .api import Playground, options, routes_table
from .worker import PlaygroundError

DEFAULT_PORT = 8765
MAX_BODY = 1 << 20
EVENT_INTERVAL = 0.25
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/style.css": ("style.css", "text/css; charset=utf-8")}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                               "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, playground: Playground, *, verbose: bool = False):
        super().__init__((host, port), Handler)
        self.playground = playground
        self.verbose = verbose
        self.closing = threading.Event()
        port = self.server_address[1]
        names = {host, "localhost", "127.0.0.1", "[::1]"} if host in ("127.0.0.1", "localhost") else {host}
        self.allowed_hosts = {f"{name}:{port}" for name in names}
        self.allowed_origins = {f"http://{h}" for h in self.allowed_hosts}
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/" if self.server_address[0] == "127.0.0.1" \
            else f"http://{self.server_address[0]}:{self.server_address[1]}/"

    def start_in_thread(self) -> PlaygroundServer:
        self._thread = threading.Thread(target=self.serve_forever, name="nnlearn-playground-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the runs (each at its next iteration), the event streams and the server."""
        self.closing.set()
        self.playground.registry.close()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    protocol_version = "HTTP/1.1"
    server_version = "nnlearn-playground"

    # --- plumbing ---------------------------------------------------------------------------------
    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, allow_nan=False, default=_jsonable).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _refusal(self) -> str | None:
        """Why this request is refused (DNS rebinding, cross-site), or None."""
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts:
            return f"Host {host!r} is not this playground's address; open {self.server.url}"
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.allowed_origins:
            return f"requests from {origin!r} are refused; the playground only answers its own page"
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return f"{site} requests are refused; the playground only answers its own page"
        if self.command == "POST" and self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return "POST requests must have Content-Type: application/json"
        return None

    def _body(self):
        length = self.headers.get("Content-Length")
        if not length:
            return {}
        try:
            n = int(length)
        except ValueError:
            raise PlaygroundError("Content-Length is not a number") from None
        if n > MAX_BODY:
            raise PlaygroundError(f"the request body is {n:,} bytes; the playground accepts at most {MAX_BODY:,}",
                                  413)
        raw = self.rfile.read(n)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise PlaygroundError("the request body is not valid JSON") from None

    def _dispatch(self) -> None:
        refusal = self._refusal()
        if refusal:
            self.close_connection = True
            self._error(HTTPStatus.FORBIDDEN, refusal)
            return
        url = urlsplit(self.path)
        try:
            if self.command in ("GET", "HEAD") and url.path in STATIC:
                name, content_type = STATIC[url.path]
                self._send(200, (resources.files(__package__) / "static" / name).read_bytes(), content_type)
            elif url.path == "/api/events" and self.command == "GET":
                self._events()
            elif url.path == "/api" or url.path.startswith("/api/"):
                body = self._body() if self.command == "POST" else None
                query = dict(parse_qsl(url.query))
                status, result = route(self.server.playground, self.command, url.path, query, body)
                self._json(status, result)
            else:
                self._error(404, f"there is nothing at {url.path}; the playground is at /")
        except PlaygroundError as exc:
            self._error(exc.status, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a message for the page; the traceback goes to the terminal
            traceback.print_exc(file=sys.stderr)
            self._error(500, f"internal error ({type(exc).__name__}: {exc}); see the terminal running the playground")

    do_GET = do_POST = do_DELETE = do_HEAD = _dispatch

    def do_OPTIONS(self):  # no CORS: a cross-origin preflight gets no permission
        self.close_connection = True
        self._error(HTTPStatus.FORBIDDEN, "cross-origin requests are refused")

    # --- the event stream -------------------------------------------------------------------------
    def _events(self) -> None:
        """Server-Sent Events: every EVENT_INTERVAL s, each run's new losses, epochs and state."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True
        sent: dict[int, tuple] = {}
        last_write = 0.0
        registry = self.server.playground.registry
        while not self.server.closing.is_set():
            runs = {run.id: run for run in registry.all()}
            changes = []
            for run_id, run in runs.items():
                loss_n, epochs_n, version, state = sent.get(run_id, (0, 0, -1, None))
                delta = run.history_since(loss_n, epochs_n)
                now = (loss_n + len(delta["loss"]), epochs_n + len(delta["epochs"]), delta["images_version"],
                       delta["state"])
                if now != (loss_n, epochs_n, version, state):
                    changes.append({**delta, "settings": run.settings})
                    sent[run_id] = now
            removed = [run_id for run_id in sent if run_id not in runs]
            for run_id in removed:
                del sent[run_id]
            if changes or removed or time.monotonic() - last_write > 10:
                payload = json.dumps({"runs": changes, "removed": removed}, default=_jsonable)
                self.wfile.write(f"data: {payload}\n\n".encode())
                self.wfile.flush()
                last_write = time.monotonic()
            self.server.closing.wait(EVENT_INTERVAL)


def _jsonable(obj):
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def route(playground: Playground, method: str, path: str, query: dict, body):
    """(status, JSON result) of one API request."""
    parts = [p for p in path.split("/") if p][1:]  # without the leading "api"
    registry = playground.registry
    if method == "GET" and parts == []:
        return 200, {"routes": routes_table()}
    if method == "GET" and parts == ["options"]:
        return 200, options(playground.datasets(), registry.max_active)
    if method == "GET" and parts == ["datasets"]:
        return 200, {"datasets": playground.datasets()}
    if parts[:1] == ["runs"]:
        if len(parts) == 1:
            if method == "GET":
                return 200, {"runs": [r.summary() for r in registry.all()]}
            if method == "POST":
                return 201, playground.start_run(body)
        elif len(parts) == 2:
            if method == "GET":
                return 200, registry.get(parts[1]).summary()
            if method == "DELETE":
                registry.remove(parts[1])
                return 200, {"removed": int(parts[1])}
        elif len(parts) == 3:
            if method == "GET" and parts[2] == "history":
                since = query.get("since", "0")
                if not since.isdigit():
                    raise PlaygroundError(f"since must be a whole number >= 0, got {since!r}")
                return 200, registry.get(parts[1]).history_since(int(since))
            if method == "GET" and parts[2] == "images":
                return 200, registry.get(parts[1]).images
            if method == "POST" and parts[2] in ("pause", "resume", "step", "stop", "save"):
                return 200, playground.control(parts[1], parts[2])
    if method == "POST" and parts == ["predict"]:
        return 200, playground.predict(body)
    if method == "GET" and parts[:1] == ["chapter4"] and len(parts) == 2:
        return 200, playground.chapter4(parts[1], query)
    raise PlaygroundError(f"there is no {method} {path}; GET /api lists the routes", 404)


def start(port: int = DEFAULT_PORT, *, host: str = "127.0.0.1", runs_dir="runs/playground", data_dir=None,
          verbose: bool = False) -> PlaygroundServer:
    """A playground server answering in a background thread (``port=0``: any free port); ``close()`` it."""
    try:
        server = PlaygroundServer(host, port, Playground(Path(runs_dir), data_dir), verbose=verbose)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port, "
                      "or --port 0 for any free one") from None
    return server.start_in_thread()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve(port: int = DEFAULT_PORT, *, host: str = "127.0.0.1", open_browser: bool = True,
          runs_dir="runs/playground", data_dir=None, say=print) -> None:
    """Run the playground until Ctrl-C, then stop its runs cleanly."""
    from threadpoolctl import threadpool_limits

    # one BLAS thread per run: several runs (and the page's requests) share the cores without oversubscribing
    limits = threadpool_limits(limits=1, user_api="blas")
    server = start(port, host=host, runs_dir=runs_dir, data_dir=data_dir)
    say(f"nnlearn playground at {server.url}  (runs are saved under {Path(runs_dir).resolve()}; Ctrl-C stops)")
    if open_browser:
        webbrowser.open(server.url)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the runs as cleanly as Ctrl-C does
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("stopping the runs and the server")
    finally:
        server.close()
        limits.restore_original_limits()
