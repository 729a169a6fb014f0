"""The CI state of one commit on GitHub: its check runs and its commit statuses.

What is asked:

- ``GET /repos/{owner}/{name}/commits/{sha}/check-runs?per_page=100`` and every further page
  named by the ``link`` header's ``rel="next"``;
- ``GET /repos/{owner}/{name}/commits/{sha}/status?per_page=100`` (and its further pages),
  so a repository whose CI reports commit statuses is not gray;
- with ``Authorization: Bearer <token>`` (only when there is a token), ``User-Agent:
  ci-keyboard-leds``, ``Accept: application/vnd.github+json`` and ``X-GitHub-Api-Version``;
- one request at a time, each under a timeout; each URL's ETag is sent back as
  ``If-None-Match``, so an unchanged poll is a ``304`` that costs no rate limit.

How runs and statuses make one state:

===================================================  =========================================
a check run whose ``status`` is not ``completed``     pending
a status whose ``state`` is ``pending``               pending
a completed run concluding ``failure``,               failed
``cancelled`` or ``timed_out``
a status whose ``state`` is ``failure`` or ``error``  failed
any other conclusion (``success``, ``neutral``,       passed
``skipped``, ``action_required``, ``stale``, null,
unknown ones, logged at debug level)
a status whose ``state`` is ``success``               passed
no run and no status (a combined status with          unknown (gray), as in the original
``total_count: 0`` counts as none, never as pending)
===================================================  =========================================

With both pending and failed entries, :attr:`Precedence.PENDING_FIRST` (the default, the
original's behaviour) shows pending; :attr:`Precedence.FAILURE_FIRST` shows failed at once.
Set :attr:`GitHub.precedence` to choose.

When GitHub cannot answer, the choice made here:

- rate limited (403/429 with ``retry-after`` or ``x-ratelimit-remaining: 0``): no request is
  made before the time GitHub gave; the report keeps the commit's last known state (it is
  still the truth as far as anyone knows), or is unknown for a commit never seen;
- a 403/429 without those headers (a secondary limit): wait 60 s, doubling up to 30 min;
  the last known state is kept for :data:`RETRY_BUDGET` such answers in a row, then unknown;
- 5xx, timeouts and network errors: exponential back-off with jitter, starting at 2 s and
  capped at 5 min, or longer when a 5xx carries ``retry-after``; the last known state is
  kept for :data:`RETRY_BUDGET` failures in a row, then unknown;
- 401: the token is asked for again and the request retried once; then unknown;
- 404 (not visible to the token), 422 (the commit is not on GitHub, e.g. not pushed) and other
  4xx: that source counts as empty, so with nothing else the state is unknown.

The token is never logged, and no message or exception built here contains it.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import enum
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Final
from urllib.parse import quote, urljoin, urlsplit

import httpx

from secretsctl.leds.model import CiState, Repository
from secretsctl.record import Record

log = logging.getLogger(__name__)

API_VERSION: Final = "2022-11-28"
USER_AGENT: Final = "ci-keyboard-leds"
PER_PAGE: Final = 100
RETRY_BUDGET: Final = 3  # failures in a row that still keep the last known state
FIRST_BACKOFF_SECONDS: Final = 2.0
MAX_BACKOFF_SECONDS: Final = 300.0
SECONDARY_LIMIT_SECONDS: Final = 60.0
MAX_SECONDARY_LIMIT_SECONDS: Final = 1800.0
# GitHub's reset is whole seconds of its own clock; a second more covers skew and rounding.
RESET_MARGIN_SECONDS: Final = 1.0
# Past GitHub's 1000-suite cap a commit has at most a few thousand runs; this only stops a
# server whose next links never end.
MAX_PAGES: Final = 50
CACHED_COMMITS: Final = 64

_FAILED_CONCLUSIONS: Final = frozenset({"failure", "cancelled", "timed_out"})
_PASSING_CONCLUSIONS: Final = frozenset(
    {"success", "neutral", "skipped", "action_required", "stale"}
)
_FAILED_STATUSES: Final = frozenset({"failure", "error"})
_TOKEN_SHAPE: Final = re.compile(r"[\x21-\x7e]+")


class Precedence(enum.Enum):
    """Which state wins when one entry is pending and another has already failed."""

    PENDING_FIRST = "pending-first"  # the original's behaviour
    FAILURE_FIRST = "failure-first"


class CiReport(Record):
    """What GitHub says about one commit, and when it may be asked again."""

    state: CiState  # never NO_REPOSITORY
    final: bool  # every run and status has finished: only a re-run can change the state
    not_before: float | None  # time.monotonic() before which no request is made, else None


class CheckRun(Record):
    """The two fields of a check run that decide the state."""

    status: str
    conclusion: str | None


def combine(
    check_runs: Iterable[CheckRun],
    statuses: Iterable[str],
    precedence: Precedence = Precedence.PENDING_FIRST,
) -> tuple[CiState, bool]:
    """Return the state of a commit's check runs and status states, and whether it is final."""
    seen = pending = failed = False
    for run in check_runs:
        seen = True
        if run.status != "completed":
            pending = True
        elif run.conclusion in _FAILED_CONCLUSIONS:
            failed = True
        elif run.conclusion is not None and run.conclusion not in _PASSING_CONCLUSIONS:
            log.debug("unknown check run conclusion %r counts as passing", run.conclusion)
    for state in statuses:
        seen = True
        if state == "pending":
            pending = True
        elif state in _FAILED_STATUSES:
            failed = True
        elif state != "success":
            log.debug("unknown commit status state %r counts as passing", state)
    if not seen:
        return CiState.UNKNOWN, False
    if failed and (precedence is Precedence.FAILURE_FIRST or not pending):
        return CiState.FAILED, not pending
    if pending:
        return CiState.PENDING, False
    return CiState.PASSED, True


class _Outcome(enum.Enum):
    LISTED = "listed"  # the items were read (from the network or the ETag cache)
    ABSENT = "absent"  # GitHub answered that it will not list them (401, 403, 404, 422, …)
    NOT_ON_GITHUB = "not-on-github"  # 422: the commit is unknown, so nothing else to ask
    LIMITED = "limited"  # rate limited; not_before says until when
    BROKEN = "broken"  # 5xx, timeout, network error or an unreadable body


class _Page(Record):
    items: tuple[Any, ...]
    total_count: int
    next_url: str | None


class _Fetched(Record):
    outcome: _Outcome
    items: tuple[Any, ...] = ()
    next_url: str | None = None
    total_count: int = 0
    not_before: float | None = None


class _CachedPage(Record):
    etag: str
    page: _Page


class _CommitCache:
    """What is known of one commit: each URL's ETag and page, and the last good report."""

    __slots__ = ("pages", "report")

    def __init__(self) -> None:
        self.pages: dict[str, _CachedPage] = {}
        self.report: CiReport | None = None


_CommitKey = tuple[str, str, str]
_Parser = Callable[[Any], tuple[tuple[Any, ...], int] | None]


class GitHub:
    """An asynchronous client for the CI state of commits, on github.com or GitHub Enterprise.

    ``token`` is called before each request, so a new secrets generation's token is used
    without a restart; None means no ``Authorization`` header.
    """

    def __init__(
        self,
        api_url: str = "https://api.github.com",
        *,
        token: Callable[[], str | None],
        timeout: float = 10.0,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._origin = _origin_of(self._api_url)
        self._token = token
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=True, max_redirects=5
        )
        self._lock = asyncio.Lock()
        self._commits: collections.OrderedDict[_CommitKey, _CommitCache] = collections.OrderedDict()
        self._not_before: float | None = None
        self._failures = 0  # 5xx, timeouts and network errors in a row
        self._secondary_limits = 0  # 403/429 without retry headers in a row
        self._logged: set[tuple[str, ...]] = set()
        self.precedence = Precedence.PENDING_FIRST

    def web_hosts(self) -> frozenset[str]:
        """Return the hosts of the git remotes this API serves."""
        parts = urlsplit(self._api_url)
        host = (parts.hostname or "").lower()
        if host == "api.github.com":
            return frozenset({"github.com"})
        if host.startswith("api.") and host.endswith(".ghe.com"):
            return frozenset({host[len("api.") :]})
        if parts.path.rstrip("/").endswith("/api/v3"):
            return frozenset({host})
        # Another URL is a stand-in for github.com (a local test server or a proxy).
        return frozenset({host, "github.com"})

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def ci_state(self, repository: Repository) -> CiReport:
        """Return the CI state of the repository's HEAD commit; never raises for HTTP trouble."""
        if repository.head is None:
            # An unborn branch has no commit and so no CI; a first commit changes the head.
            return CiReport(CiState.UNKNOWN, True, None)
        key = (repository.owner, repository.name, repository.head)
        async with self._lock:
            commit = self._commit(key)
            if self._not_before is not None:
                if time.monotonic() < self._not_before:
                    return self._held(commit)
                self._not_before = None
            return await self._ask(key, commit)

    def _commit(self, key: _CommitKey) -> _CommitCache:
        commit = self._commits.get(key)
        if commit is None:
            commit = self._commits[key] = _CommitCache()
            while len(self._commits) > CACHED_COMMITS:
                self._commits.popitem(last=False)
        self._commits.move_to_end(key)
        return commit

    async def _ask(self, key: _CommitKey, commit: _CommitCache) -> CiReport:
        owner, name, sha = (quote(part, safe="") for part in key)
        base = f"{self._api_url}/repos/{owner}/{name}/commits/{sha}"
        runs = await self._list(f"{base}/check-runs?per_page={PER_PAGE}", commit, _check_runs)
        if runs.outcome is _Outcome.LIMITED:
            return self._limited(commit, runs.not_before)
        if runs.outcome is _Outcome.BROKEN:
            return self._failed(commit, runs.not_before)  # no second request into an outage
        if runs.outcome is _Outcome.NOT_ON_GITHUB:
            self._log_once("not-on-github", *key, message="%s/%s@%s is not on GitHub (422)")
            return self._succeeded(commit, CiReport(CiState.UNKNOWN, False, None))
        statuses = await self._list(f"{base}/status?per_page={PER_PAGE}", commit, _statuses)
        if statuses.outcome is _Outcome.LIMITED:
            return self._limited(commit, statuses.not_before)
        if statuses.outcome is _Outcome.BROKEN:
            return self._failed(commit, statuses.not_before)
        state, final = combine(runs.items, statuses.items, self.precedence)
        return self._succeeded(commit, CiReport(state, final, None))

    def _succeeded(self, commit: _CommitCache, report: CiReport) -> CiReport:
        if self._failures:
            log.info("GitHub answers again after %d failed attempts", self._failures)
        self._failures = 0
        self._secondary_limits = 0
        if self._not_before is not None:
            # The last answer said the limit is used up: the next request waits for the reset.
            report = report._replace(not_before=self._not_before)
        if report.state is not CiState.UNKNOWN:
            commit.report = report._replace(not_before=None)
        return report

    def _held(self, commit: _CommitCache, *, keep: bool = True) -> CiReport:
        if keep and commit.report is not None:
            return commit.report._replace(not_before=self._not_before)
        return CiReport(CiState.UNKNOWN, False, self._not_before)

    def _limited(self, commit: _CommitCache, not_before: float | None) -> CiReport:
        if not_before is None:
            self._secondary_limits += 1
            delay = min(
                MAX_SECONDARY_LIMIT_SECONDS,
                SECONDARY_LIMIT_SECONDS * 2 ** (self._secondary_limits - 1),
            )
            not_before = time.monotonic() + delay
        self._not_before = not_before
        wait = max(0.0, not_before - time.monotonic())
        log.warning("GitHub rate limit: next request in %.0f s", wait)
        return self._held(commit, keep=self._secondary_limits <= RETRY_BUDGET)

    def _failed(self, commit: _CommitCache, retry_at: float | None = None) -> CiReport:
        """Back off after a failure; ``retry_at`` is a later time the server asked for."""
        self._failures += 1
        delay = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (self._failures - 1))
        # "Equal jitter": between half and all of the delay, so clients spread out and the
        # wait still grows with each failure.
        not_before = time.monotonic() + delay / 2 + random.uniform(0, delay / 2)  # noqa: S311
        self._not_before = max(not_before, retry_at or 0.0)
        return self._held(commit, keep=self._failures <= RETRY_BUDGET)

    async def _list(self, first_url: str, commit: _CommitCache, parse: _Parser) -> _Fetched:
        """Read every page from ``first_url`` on, following ``rel="next"`` links."""
        items: list[Any] = []
        total_count: int | None = None
        url: str | None = first_url
        seen: set[str] = set()
        while url is not None:
            if len(seen) >= MAX_PAGES or url in seen:
                self._log_once("pages", first_url, message="too many pages from %s; stopped")
                break
            seen.add(url)
            fetched = await self._page(url, commit, parse)
            if fetched.outcome is not _Outcome.LISTED:
                return fetched
            items += fetched.items
            if total_count is None:
                total_count = fetched.total_count
            url = fetched.next_url
            if url is not None and _origin_of(url) != self._origin:
                # The token must not go to another host, whatever a link header says.
                self._log_once("origin", first_url, message="%s: next page on another host")
                break
        if total_count is not None and total_count > len(items):
            log.debug("%s: %d of %d entries listed", first_url, len(items), total_count)
        return _Fetched(_Outcome.LISTED, tuple(items))

    async def _page(self, url: str, commit: _CommitCache, parse: _Parser) -> _Fetched:
        if self._not_before is not None and time.monotonic() < self._not_before:
            # An earlier answer of this round used up the rate limit.
            return _Fetched(_Outcome.LIMITED, not_before=self._not_before)
        cached = commit.pages.get(url)
        response = await self._get(url, cached)
        if response is None:
            return _Fetched(_Outcome.BROKEN)
        status = response.status_code
        if status == httpx.codes.NOT_MODIFIED and cached is not None:
            return _Fetched(
                _Outcome.LISTED, cached.page.items, cached.page.next_url, cached.page.total_count
            )
        if status == httpx.codes.OK:
            page = _read_page(response, parse)
            if page is None:
                self._log_outage("%s: unreadable answer", url)
                return _Fetched(_Outcome.BROKEN)
            etag = response.headers.get("etag")
            if etag:
                commit.pages[url] = _CachedPage(etag, page)
            return _Fetched(_Outcome.LISTED, page.items, page.next_url, page.total_count)
        if status in (httpx.codes.FORBIDDEN, httpx.codes.TOO_MANY_REQUESTS):
            limited, not_before = _rate_limit(response)
            if limited:
                return _Fetched(_Outcome.LIMITED, not_before=not_before)
        if status == httpx.codes.UNPROCESSABLE_ENTITY:
            return _Fetched(_Outcome.NOT_ON_GITHUB)
        if status == httpx.codes.UNAUTHORIZED:
            self._log_once("401", message="GitHub rejected the token")
            return _Fetched(_Outcome.ABSENT)
        if 400 <= status < 500:
            reasons = {
                403: "%s: forbidden to this token",
                404: "%s: not found, or not visible to this token",
            }
            self._log_once(str(status), url, message=reasons.get(status, f"%s: HTTP {status}"))
            return _Fetched(_Outcome.ABSENT)
        self._log_outage("%s: HTTP %d", url, status)
        retry_after = _retry_after(response.headers.get("retry-after"))
        retry_at = None if retry_after is None else time.monotonic() + retry_after
        return _Fetched(_Outcome.BROKEN, not_before=retry_at)

    async def _get(self, url: str, cached: _CachedPage | None) -> httpx.Response | None:
        """GET ``url``; retry once with the token asked again after a 401. None on failure."""
        response = None
        for _ in range(2):
            headers = self._headers(cached)
            if headers is None:
                return None
            try:
                async with asyncio.timeout(self._timeout):
                    response = await self._client.get(url, headers=headers)
            except (httpx.HTTPError, httpx.InvalidURL, OSError, TimeoutError) as error:
                # Only the class: httpx messages can quote request details.
                self._log_outage("%s: %s", url, type(error).__name__)
                return None
            self._note_used_up(response)
            if response.status_code != httpx.codes.UNAUTHORIZED:
                break
        return response

    def _headers(self, cached: _CachedPage | None) -> dict[str, str] | None:
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }
        token = self._token()
        if token is not None:
            if not _TOKEN_SHAPE.fullmatch(token):
                self._log_once("token-shape", message="the GitHub token is malformed; not sent")
                return None
            headers["Authorization"] = f"Bearer {token}"
        if cached is not None:
            headers["If-None-Match"] = cached.etag
        return headers

    def _note_used_up(self, response: httpx.Response) -> None:
        """After an answer that used the last request of the window, wait for the reset."""
        if response.status_code < 400 and response.headers.get("x-ratelimit-remaining") == "0":
            reset = _reset_at(response)
            if reset is not None:
                self._not_before = reset

    def _log_outage(self, message: str, *arguments: object) -> None:
        """Log the first failure of an outage as a warning, the retries at debug level."""
        level = logging.WARNING if self._failures == 0 else logging.DEBUG
        log.log(level, message, *arguments)

    def _log_once(self, *key: str, message: str) -> None:
        if key in self._logged:
            return
        if len(self._logged) > 1000:
            self._logged.clear()
        self._logged.add(key)
        arguments = key[1:]
        log.warning(message, *arguments[: message.count("%s")])


def _origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _read_page(response: httpx.Response, parse: _Parser) -> _Page | None:
    try:
        body = response.json()
    except ValueError:
        return None
    parsed = parse(body)
    if parsed is None:
        return None
    items, total_count = parsed
    next_link = response.links.get("next", {}).get("url")
    next_url = urljoin(str(response.url), next_link) if next_link else None
    return _Page(items, total_count, next_url)


def _check_runs(body: Any) -> tuple[tuple[CheckRun, ...], int] | None:
    if not isinstance(body, dict) or not isinstance(body.get("check_runs"), list):
        return None
    runs = []
    for run in body["check_runs"]:
        if not isinstance(run, dict) or not isinstance(run.get("status"), str):
            return None
        conclusion = run.get("conclusion")
        runs.append(CheckRun(run["status"], conclusion if isinstance(conclusion, str) else None))
    total_count = body.get("total_count")
    return tuple(runs), total_count if isinstance(total_count, int) else len(runs)


def _statuses(body: Any) -> tuple[tuple[str, ...], int] | None:
    # The combined `state` word is not used: with no status at all it says "pending" for
    # ever; only the listed statuses count.
    if not isinstance(body, dict) or not isinstance(body.get("statuses"), list):
        return None
    states = []
    for status in body["statuses"]:
        if not isinstance(status, dict) or not isinstance(status.get("state"), str):
            return None
        states.append(status["state"])
    total_count = body.get("total_count")
    return tuple(states), total_count if isinstance(total_count, int) else len(states)


def _rate_limit(response: httpx.Response) -> tuple[bool, float | None]:
    """Return whether a 403/429 is a rate limit, and the monotonic time it ends if known."""
    retry_after = _retry_after(response.headers.get("retry-after"))
    if retry_after is not None:
        return True, time.monotonic() + retry_after
    if response.headers.get("x-ratelimit-remaining") == "0":
        return True, _reset_at(response)
    if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
        return True, None
    try:
        message = str(response.json().get("message", ""))
    except (ValueError, AttributeError):
        message = ""
    return "rate limit" in message.lower(), None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reset_at(response: httpx.Response) -> float | None:
    value = response.headers.get("x-ratelimit-reset", "").strip()
    if not value.isdigit():
        return None
    wait = max(0.0, int(value) - time.time()) + RESET_MARGIN_SECONDS
    return time.monotonic() + wait


__all__ = ["CheckRun", "CiReport", "GitHub", "Precedence", "combine"]
