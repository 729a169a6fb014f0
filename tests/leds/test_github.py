"""The GitHub client against a real HTTP server on 127.0.0.1 speaking GitHub's API."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.leds import github
from secretsctl.leds.github import CheckRun, CiReport, GitHub, Precedence, combine
from secretsctl.leds.model import CiState, Repository
from tests.leds.github_server import GitHubServer, Scripted, commit_status, run, serving
from tests.leds.secrets_support import same_secret

SHA = "a" * 40
OTHER_SHA = "b" * 40
TOKEN = "ghp_TestTokenThatMustNeverBeLogged0123"
T = TypeVar("T")


def repository(sha: str | None = SHA) -> Repository:
    return Repository(root="/work/tree", owner="octo", name="hello", head=sha)


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with serving() as api:
        yield api


def drive(
    api: GitHubServer,
    scenario: Callable[[GitHub], Coroutine[Any, Any, T]],
    *,
    token: Callable[[], str | None] = lambda: TOKEN,
    timeout: float = 2.0,
    url: str | None = None,
) -> T:
    """Run ``scenario`` with a client of ``api`` on a fresh event loop."""

    async def main() -> T:
        client = GitHub(url or api.url, token=token, timeout=timeout)
        try:
            return await scenario(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def ask_once(api: GitHubServer, **options: Any) -> CiReport:
    return drive(api, lambda client: client.ci_state(repository()), **options)


# --- the state table ---------------------------------------------------------

TABLE = [
    pytest.param([run("in_progress", None)], CiState.PENDING, False, id="in-progress"),
    pytest.param([run("queued", None), run()], CiState.PENDING, False, id="queued-and-passed"),
    pytest.param([run("waiting", None)], CiState.PENDING, False, id="waiting"),
    pytest.param([run("mystery", None)], CiState.PENDING, False, id="unknown-status"),
    pytest.param(
        [run("completed", "failure"), run("in_progress", None)],
        CiState.PENDING,
        False,
        id="pending-beats-failure",
    ),
    pytest.param([run(), run("completed", "failure")], CiState.FAILED, True, id="failure"),
    pytest.param([run("completed", "cancelled")], CiState.FAILED, True, id="cancelled"),
    pytest.param([run("completed", "timed_out")], CiState.FAILED, True, id="timed-out"),
    pytest.param([run()], CiState.PASSED, True, id="success"),
    pytest.param(
        [
            run("completed", c)
            for c in ("neutral", "skipped", "action_required", "stale", None, "brand_new")
        ],
        CiState.PASSED,
        True,
        id="passing-conclusions",
    ),
    pytest.param([], CiState.UNKNOWN, False, id="no-runs"),
]


@pytest.mark.parametrize(("runs", "state", "final"), TABLE)
def test_state_table(
    server: GitHubServer, runs: list[dict[str, Any]], state: CiState, final: bool
) -> None:
    server.check_runs[SHA] = runs
    assert ask_once(server) == CiReport(state, final, None)


def test_failure_first_precedence_shows_red_while_something_runs(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run("completed", "failure"), run("in_progress", None)]

    async def scenario(client: GitHub) -> CiReport:
        client.precedence = Precedence.FAILURE_FIRST
        return await client.ci_state(repository())

    assert drive(server, scenario) == CiReport(CiState.FAILED, False, None)


@pytest.mark.parametrize(
    ("runs", "statuses", "state", "final"),
    [
        ([], [commit_status("success")], CiState.PASSED, True),
        ([], [commit_status("failure")], CiState.FAILED, True),
        ([], [commit_status("error")], CiState.FAILED, True),
        ([], [commit_status("pending")], CiState.PENDING, False),
        ([run()], [commit_status("failure")], CiState.FAILED, True),
        ([run()], [commit_status("pending")], CiState.PENDING, False),
        ([run("completed", "failure")], [commit_status("success")], CiState.FAILED, True),
        # No status at all: GitHub's combined state says "pending"; it must count for nothing.
        ([run()], [], CiState.PASSED, True),
    ],
)
def test_commit_statuses_are_merged_with_check_runs(
    server: GitHubServer,
    runs: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
    state: CiState,
    final: bool,
) -> None:
    server.check_runs[SHA] = runs
    server.statuses[SHA] = statuses
    assert ask_once(server) == CiReport(state, final, None)
    assert len(server.seen("status")) == 1


def test_combine_without_anything_is_unknown() -> None:
    assert combine([], []) == (CiState.UNKNOWN, False)
    assert combine([CheckRun("completed", "failure")], ["pending"]) == (CiState.PENDING, False)
    failure_first = Precedence.FAILURE_FIRST
    assert combine([CheckRun("completed", "failure")], ["pending"], failure_first) == (
        CiState.FAILED,
        False,
    )


# --- requests: headers, pagination, ETags ---------------------------------------------------------


def test_request_line_and_headers(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run()]
    ask_once(server)
    (request,) = server.seen("check-runs")
    assert request.path == f"/repos/octo/hello/commits/{SHA}/check-runs"
    assert request.query == {"per_page": "100"}
    same_secret(request.headers["authorization"], f"Bearer {TOKEN}")
    assert request.headers["user-agent"] == "ci-keyboard-leds"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert "if-none-match" not in request.headers
    (status_request,) = server.seen("status")
    assert status_request.path == f"/repos/octo/hello/commits/{SHA}/status"
    same_secret(status_request.headers["authorization"], f"Bearer {TOKEN}")


def test_no_token_means_no_authorization_header(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run()]
    assert ask_once(server, token=lambda: None).state is CiState.PASSED
    assert all("authorization" not in r.headers for r in server.seen())


def test_the_token_is_asked_for_before_each_request(server: GitHubServer) -> None:
    tokens = iter(["first-token", "second-token", "third-token"])
    server.check_runs[SHA] = [run()]
    ask_once(server, token=lambda: next(tokens))
    assert [r.headers["authorization"] for r in server.seen()] == [
        "Bearer first-token",
        "Bearer second-token",
    ]


def test_a_401_asks_for_the_token_again_and_retries_once(server: GitHubServer) -> None:
    tokens = iter(["stale-token", "fresh-token", "fresh-token"])
    server.check_runs[SHA] = [run()]
    server.scripted.append(Scripted(401, body={"message": "Bad credentials"}))
    assert ask_once(server, token=lambda: next(tokens)).state is CiState.PASSED
    assert [r.headers["authorization"] for r in server.seen("check-runs")] == [
        "Bearer stale-token",
        "Bearer fresh-token",
    ]


def test_a_token_rejected_twice_is_unknown_and_never_logged(
    server: GitHubServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(4):
        server.scripted.append(Scripted(401, body={"message": "Bad credentials"}))
    assert ask_once(server) == CiReport(CiState.UNKNOWN, False, None)
    assert len(server.seen()) == 4  # each endpoint: the request and one retry
    assert "GitHub rejected the token" in caplog.text
    assert TOKEN not in caplog.text


def test_a_malformed_token_is_never_sent_nor_logged(
    server: GitHubServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "ghp_secret\r\nX-Injected: 1"
    report = ask_once(server, token=lambda: bad)
    assert report.state is CiState.UNKNOWN
    assert server.seen() == []
    assert "ghp_secret" not in caplog.text
    assert "malformed" in caplog.text


def test_every_page_of_check_runs_is_read(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run() for _ in range(250)]
    server.check_runs[SHA][-1] = run("completed", "failure")
    assert ask_once(server) == CiReport(CiState.FAILED, True, None)
    pages = server.seen("check-runs")
    assert [r.query for r in pages] == [
        {"per_page": "100"},
        {"per_page": "100", "page": "2"},
        {"per_page": "100", "page": "3"},
    ]


def test_an_unchanged_poll_is_answered_304_for_every_page(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run() for _ in range(150)]
    server.statuses[SHA] = [commit_status("success")]

    async def scenario(client: GitHub) -> list[CiReport]:
        return [await client.ci_state(repository()) for _ in range(3)]

    reports = drive(server, scenario)
    assert reports == [CiReport(CiState.PASSED, True, None)] * 3
    first, *later = [server.seen()[i : i + 3] for i in range(0, 9, 3)]
    assert all("if-none-match" not in r.headers for r in first)
    remaining_after_first_poll = 5000 - 3
    assert server.rate_limit_remaining == remaining_after_first_poll
    for poll in later:
        assert [r.query for r in poll] == [r.query for r in first]
        assert all(r.headers["if-none-match"].startswith('"') for r in poll)
    # each URL sent back its own ETag
    assert len({r.headers["if-none-match"] for r in later[0]}) == 3


def test_a_changed_page_is_read_again(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run("in_progress", None)]

    async def scenario(client: GitHub) -> list[CiReport]:
        reports = [await client.ci_state(repository())]
        server.check_runs[SHA] = [run("completed", "failure")]
        reports.append(await client.ci_state(repository()))
        return reports

    assert drive(server, scenario) == [
        CiReport(CiState.PENDING, False, None),
        CiReport(CiState.FAILED, True, None),
    ]
    assert server.rate_limit_remaining == 5000 - 3  # the unchanged status answered 304


def test_another_commit_has_its_own_etags(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run()]
    server.check_runs[OTHER_SHA] = [run("completed", "failure")]

    async def scenario(client: GitHub) -> list[CiState]:
        return [
            (await client.ci_state(repository(SHA))).state,
            (await client.ci_state(repository(OTHER_SHA))).state,
        ]

    assert drive(server, scenario) == [CiState.PASSED, CiState.FAILED]
    assert all("if-none-match" not in r.headers for r in server.seen())


def test_an_unborn_branch_asks_nothing(server: GitHubServer) -> None:
    report = drive(server, lambda client: client.ci_state(repository(None)))
    assert report.state is CiState.UNKNOWN
    assert server.seen() == []


# --- answers that are not 200 ---------------------------------------------------------------------


def test_not_found_is_unknown(server: GitHubServer) -> None:
    server.missing.add(SHA)
    assert ask_once(server) == CiReport(CiState.UNKNOWN, False, None)


def test_a_commit_not_on_github_is_unknown_without_asking_statuses(server: GitHubServer) -> None:
    server.unknown_commits.add(SHA)
    assert ask_once(server) == CiReport(CiState.UNKNOWN, False, None)
    assert server.seen("status") == []


def test_check_runs_hidden_from_the_token_still_read_statuses(server: GitHubServer) -> None:
    server.statuses[SHA] = [commit_status("success")]
    forbidden = {"message": "Resource not accessible by personal access token"}
    server.scripted.append(Scripted(403, body=forbidden, path_contains="check-runs"))
    assert ask_once(server) == CiReport(CiState.PASSED, True, None)


def _primary_limit(status: int, reset_in: int) -> Scripted:
    reset = str(int(time.time()) + reset_in)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    return Scripted(status, headers, {"message": "API rate limit exceeded"})


@pytest.mark.parametrize("status", [403, 429])
def test_primary_rate_limit_holds_requests_until_the_reset(
    server: GitHubServer, status: int
) -> None:
    server.check_runs[SHA] = [run("in_progress", None)]

    async def scenario(client: GitHub) -> None:
        first = await client.ci_state(repository())
        assert first == CiReport(CiState.PENDING, False, None)
        server.scripted.append(_primary_limit(status, reset_in=1))
        limited = await client.ci_state(repository())
        # the last known state is kept (no gray flash) and the reset is honoured
        assert limited.state is CiState.PENDING
        assert limited.not_before is not None
        assert limited.not_before > time.monotonic() + 0.5
        count = len(server.seen())
        assert await client.ci_state(repository()) == limited
        assert await client.ci_state(repository(OTHER_SHA)) == CiReport(
            CiState.UNKNOWN, False, limited.not_before
        )
        assert len(server.seen()) == count  # nothing sent before the reset
        await asyncio.sleep(limited.not_before - time.monotonic() + 0.05)
        server.check_runs[SHA] = [run()]
        assert await client.ci_state(repository()) == CiReport(CiState.PASSED, True, None)
        assert len(server.seen()) == count + 2

    drive(server, scenario)


def test_retry_after_is_honoured(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run()]
    server.scripted.append(Scripted(429, {"retry-after": "30"}, {"message": "slow down"}))

    async def scenario(client: GitHub) -> CiReport:
        report = await client.ci_state(repository())
        again = await client.ci_state(repository())
        assert again == report
        return report

    before = time.monotonic()
    report = drive(server, scenario)
    assert report.state is CiState.UNKNOWN  # never seen before: nothing honest to keep
    assert report.not_before is not None
    assert before + 29 <= report.not_before <= time.monotonic() + 30
    assert len(server.seen()) == 1


def test_secondary_rate_limit_waits_at_least_a_minute(server: GitHubServer) -> None:
    message = {"message": "You have exceeded a secondary rate limit."}
    server.scripted.append(Scripted(403, body=message))
    before = time.monotonic()
    report = ask_once(server)
    assert report.not_before is not None
    assert report.not_before >= before + github.SECONDARY_LIMIT_SECONDS
    assert len(server.seen()) == 1


def test_a_response_using_the_last_request_defers_the_next(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run()]
    server.rate_limit_remaining = 1
    report = ask_once(server)
    assert report.not_before is not None
    assert report.not_before > time.monotonic() + 60
    assert server.seen("status") == []  # the limit was used up: the second request waits


def test_server_errors_back_off_exponentially(
    server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github, "FIRST_BACKOFF_SECONDS", 0.1)
    server.check_runs[SHA] = [run()]

    async def scenario(client: GitHub) -> list[tuple[float, float]]:
        # The back-off starts somewhere between sending and the answer: the delay lies between
        # not_before - end and not_before - start, however slow the machine is.
        delays = []
        for _ in range(4):
            server.scripted.append(Scripted(502, body={"message": "Bad Gateway"}))
            start = time.monotonic()
            report = await client.ci_state(repository())
            end = time.monotonic()
            assert report.state is CiState.UNKNOWN
            assert report.not_before is not None
            delays.append((report.not_before - end, report.not_before - start))
            count = len(server.seen())
            assert (await client.ci_state(repository())).state is CiState.UNKNOWN
            assert len(server.seen()) == count  # nothing before the back-off ends
            await asyncio.sleep(report.not_before - time.monotonic() + 0.01)
        assert await client.ci_state(repository()) == CiReport(CiState.PASSED, True, None)
        return delays

    delays = drive(server, scenario)
    for attempt, (shortest, longest) in enumerate(delays):
        full = 0.1 * 2**attempt
        assert longest >= full / 2 - 0.001, (attempt, delays)
        assert shortest <= full + 0.001, (attempt, delays)


def test_short_outages_keep_the_last_good_state_then_turn_unknown(
    server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github, "FIRST_BACKOFF_SECONDS", 0.01)
    server.check_runs[SHA] = [run("completed", "failure")]

    async def scenario(client: GitHub) -> list[CiState]:
        states = [(await client.ci_state(repository())).state]
        for _ in range(github.RETRY_BUDGET + 1):
            server.scripted.append(Scripted(503))
            report = await client.ci_state(repository())
            states.append(report.state)
            assert report.not_before is not None
            await asyncio.sleep(report.not_before - time.monotonic() + 0.005)
        return states

    budget = github.RETRY_BUDGET
    assert drive(server, scenario) == [CiState.FAILED] * (budget + 1) + [CiState.UNKNOWN]


def test_a_slow_answer_times_out_to_unknown(server: GitHubServer) -> None:
    server.check_runs[SHA] = [run()]
    server.delay = 1.5
    start = time.monotonic()
    report = ask_once(server, timeout=0.2)
    assert time.monotonic() - start < 1.0
    assert report.state is CiState.UNKNOWN
    assert report.not_before is not None


def test_an_unreachable_api_is_unknown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serving() as api:
        url = api.url
    report = asyncio.run(_ask_url(url))
    assert report.state is CiState.UNKNOWN
    assert TOKEN not in caplog.text


async def _ask_url(url: str) -> CiReport:
    client = GitHub(url, token=lambda: TOKEN, timeout=1.0)
    try:
        return await client.ci_state(repository())
    finally:
        await client.aclose()


def test_a_garbage_body_is_unknown(server: GitHubServer) -> None:
    server.scripted.append(Scripted(200, body={"unexpected": True}))
    assert ask_once(server).state is CiState.UNKNOWN


def test_a_next_link_to_another_host_is_not_followed(server: GitHubServer) -> None:
    link = '<http://198.51.100.7/repos/octo/hello/commits/x/check-runs?page=2>; rel="next"'
    body = {"total_count": 2, "check_runs": [run()]}
    server.scripted.append(Scripted(200, {"link": link}, body, path_contains="check-runs"))
    assert ask_once(server, timeout=0.5) == CiReport(CiState.PASSED, True, None)
    assert len(server.seen("check-runs")) == 1


def test_the_token_never_reaches_a_log_line(
    server: GitHubServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github, "FIRST_BACKOFF_SECONDS", 0.0)
    caplog.set_level(logging.DEBUG)
    server.check_runs[SHA] = [run("completed", "brand_new")]
    for answer in (
        Scripted(500),
        Scripted(404, body={"message": "Not Found"}),
        Scripted(403, body={"message": "Forbidden"}),
        Scripted(418, body={"message": TOKEN}),
    ):
        server.scripted.append(answer)
        ask_once(server)
    assert caplog.records
    assert TOKEN not in caplog.text


# --- GitHub Enterprise and hosts ------------------------------------------------------------------


def test_enterprise_api_url() -> None:
    with serving(prefix="/api/v3") as api:
        api.check_runs[SHA] = [run() for _ in range(101)]
        report = ask_once(api)
        assert report == CiReport(CiState.PASSED, True, None)
        paths = [r.path for r in api.seen()]
        assert paths == [
            f"/api/v3/repos/octo/hello/commits/{SHA}/check-runs",
            f"/api/v3/repos/octo/hello/commits/{SHA}/check-runs",
            f"/api/v3/repos/octo/hello/commits/{SHA}/status",
        ]
        assert GitHub(api.url, token=lambda: None).web_hosts() == {"127.0.0.1"}


@pytest.mark.parametrize(
    ("api_url", "hosts"),
    [
        ("https://api.github.com", {"github.com"}),
        ("https://api.github.com/", {"github.com"}),
        ("https://ghe.example/api/v3", {"ghe.example"}),
        ("https://GHE.example:8443/api/v3/", {"ghe.example"}),
        ("https://api.octocorp.ghe.com", {"octocorp.ghe.com"}),
        ("http://127.0.0.1:8080", {"127.0.0.1", "github.com"}),
    ],
)
def test_web_hosts(api_url: str, hosts: set[str]) -> None:
    assert GitHub(api_url, token=lambda: None).web_hosts() == hosts


# --- combine, as a property -----------------------------------------------------------------------

_run_statuses = st.sampled_from(["completed", "completed", "queued", "in_progress", "waiting"])
_conclusions = st.sampled_from(
    [None, "success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required",
     "stale", "startup_failure"]
)  # fmt: skip
_check_runs = st.lists(st.builds(CheckRun, _run_statuses, _conclusions), max_size=8)
_status_states = st.lists(st.sampled_from(["success", "failure", "error", "pending"]), max_size=5)


@given(_check_runs, _status_states, st.sampled_from(list(Precedence)), st.randoms())
def test_combine_follows_the_table_in_any_order(
    runs: list[CheckRun],
    statuses: list[str],
    precedence: Precedence,
    shuffler: random.Random,
) -> None:
    pending = any(r.status != "completed" for r in runs) or "pending" in statuses
    failed = any(
        r.status == "completed" and r.conclusion in ("failure", "cancelled", "timed_out")
        for r in runs
    ) or bool({"failure", "error"} & set(statuses))
    if not runs and not statuses:
        expected = (CiState.UNKNOWN, False)
    elif failed and (precedence is Precedence.FAILURE_FIRST or not pending):
        expected = (CiState.FAILED, not pending)
    elif pending:
        expected = (CiState.PENDING, False)
    else:
        expected = (CiState.PASSED, True)
    assert combine(runs, statuses, precedence) == expected
    shuffler.shuffle(runs)
    shuffler.shuffle(statuses)
    assert combine(runs, statuses, precedence) == expected


def test_a_cancelled_lookup_stops_at_once_and_the_client_still_closes(
    server: GitHubServer,
) -> None:
    server.check_runs[SHA] = [run()]
    server.delay = 1.5

    async def scenario(client: GitHub) -> float:
        lookup = asyncio.create_task(client.ci_state(repository()))
        await asyncio.sleep(0.1)
        start = time.monotonic()
        lookup.cancel()
        with pytest.raises(asyncio.CancelledError):
            await lookup
        await client.aclose()
        return time.monotonic() - start

    assert drive(server, scenario, timeout=5.0) < 0.5


def test_a_server_error_with_retry_after_waits_that_long(server: GitHubServer) -> None:
    server.scripted.append(Scripted(503, {"retry-after": "120"}, {"message": "maintenance"}))
    before = time.monotonic()
    report = ask_once(server)
    assert report.state is CiState.UNKNOWN
    assert report.not_before is not None
    assert report.not_before >= before + 119
    assert len(server.seen()) == 1


def test_an_outage_logs_one_warning_then_its_end(
    server: GitHubServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github, "FIRST_BACKOFF_SECONDS", 0.0)
    caplog.set_level(logging.DEBUG, logger="secretsctl.leds.github")
    server.check_runs[SHA] = [run()]

    async def scenario(client: GitHub) -> CiReport:
        for _ in range(3):
            server.scripted.append(Scripted(500))
            await client.ci_state(repository())
        return await client.ci_state(repository())

    assert drive(server, scenario).state is CiState.PASSED
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HTTP 500" in warnings[0].getMessage()
    assert any("answers again after 3" in r.getMessage() for r in caplog.records)
