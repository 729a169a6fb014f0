"""A small GitHub REST API on 127.0.0.1 for the LED companion's tests.

It serves ``/repos/{owner}/{name}/commits/{sha}/check-runs`` and ``…/status`` from what a test
put in :attr:`GitHubServer.check_runs` and :attr:`GitHubServer.statuses` (keyed by sha), with
GitHub's pagination (``per_page``, ``page``, a ``link`` header), strong ETags and ``304`` for a
matching ``If-None-Match``, rate-limit headers, and scripted answers (403/429 rate limits, 5xx,
anything) queued in :attr:`GitHubServer.scripted`. Every request is recorded with its headers.
"""

from __future__ import annotations

import collections
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_ROUTE = re.compile(r"/repos/([^/]+)/([^/]+)/commits/([^/]+)/(check-runs|status)")


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case

    @property
    def endpoint(self) -> str:
        return "status" if self.path.endswith("/status") else "check-runs"


@dataclass
class Scripted:
    """An answer given instead of the normal one, to the next request whose path matches."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    path_contains: str = ""


def run(status: str = "completed", conclusion: str | None = "success") -> dict[str, Any]:
    """Return a check run as GitHub lists it (only the fields the client reads, and a name)."""
    return {"name": "ci", "status": status, "conclusion": conclusion}


def commit_status(state: str, context: str = "ci/legacy") -> dict[str, Any]:
    """Return a commit status as the combined status lists it."""
    return {"state": state, "context": context}


class GitHubServer:
    """The API; start it with :func:`serving`."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.check_runs: dict[str, list[dict[str, Any]]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.missing: set[str] = set()  # shas answered 404 (repository not visible)
        self.unknown_commits: set[str] = set()  # shas answered 422 (commit not on GitHub)
        self.scripted: collections.deque[Scripted] = collections.deque()
        self.delay = 0.0
        self.requests: list[Seen] = []
        self.rate_limit_remaining = 5000  # 304s do not count, as on GitHub
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._http is not None
        return self._http.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The API base URL to give the client."""
        return self.origin + self.prefix

    def seen(self, endpoint: str | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if endpoint is None or r.endpoint == endpoint]

    # --- answering ---------------------------------------------------------------------------

    def answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        seen = Seen(parts.path, query, {k.lower(): v for k, v in handler.headers.items()})
        with self._lock:
            self.requests.append(seen)
            scripted = next((s for s in self.scripted if s.path_contains in parts.path), None)
            if scripted is not None:
                self.scripted.remove(scripted)
        if self.delay:
            time.sleep(self.delay)
        if scripted is not None:
            body = b"" if scripted.body is None else json.dumps(scripted.body).encode()
            return scripted.status, dict(scripted.headers), body
        if not parts.path.startswith(self.prefix):
            return 404, {}, b'{"message": "Not Found"}'
        route = _ROUTE.fullmatch(parts.path[len(self.prefix) :])
        if route is None:
            return 404, {}, b'{"message": "Not Found"}'
        sha, endpoint = route.group(3), route.group(4)
        if sha in self.missing:
            return 404, {}, b'{"message": "Not Found"}'
        if sha in self.unknown_commits:
            return 422, {}, b'{"message": "No commit found for SHA: x"}'
        per_page = min(100, int(query.get("per_page", "30")))
        page = int(query.get("page", "1"))
        if endpoint == "check-runs":
            entries = self.check_runs.get(sha, [])
            chunk = entries[(page - 1) * per_page : page * per_page]
            document: dict[str, Any] = {"total_count": len(entries), "check_runs": chunk}
        else:
            entries = self.statuses.get(sha, [])
            chunk = entries[(page - 1) * per_page : page * per_page]
            failed = any(s["state"] in ("failure", "error") for s in entries)
            success = entries and all(s["state"] == "success" for s in entries)
            # GitHub's trap: no status at all is "pending".
            combined = "failure" if failed else "success" if success else "pending"
            document = {"state": combined, "total_count": len(entries), "statuses": chunk}
        body = json.dumps(document).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        headers = {"etag": etag, **self._rate_headers()}
        last = max(1, -(-len(entries) // per_page))
        if page < last:
            link = f"{self.origin}{parts.path}?per_page={per_page}&page={{}}"
            headers["link"] = (
                f'<{link.format(page + 1)}>; rel="next", <{link.format(last)}>; rel="last"'
            )
        if seen.headers.get("if-none-match") == etag:
            return 304, headers, b""
        with self._lock:
            self.rate_limit_remaining -= 1
        return 200, {**headers, **self._rate_headers()}, body

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.rate_limit_remaining),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        status, headers, body = self.server.api.answer(self)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: GitHubServer


@contextmanager
def serving(prefix: str = "") -> Iterator[GitHubServer]:
    """Run a :class:`GitHubServer` on an ephemeral port of 127.0.0.1."""
    api = GitHubServer(prefix)
    http = _Server(("127.0.0.1", 0), _Handler)
    http.api = api
    api._http = http
    thread = threading.Thread(target=http.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)
