"""The repository of a directory: remote URL forms (hypothesis) and real git repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secretsctl.leds.model import Repository
from secretsctl.leds.repo import find_repository, parse_github_remote

GITHUB = ("github.com",)

owners = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9-]{0,20}\Z")
names = st.from_regex(r"\A[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}\Z").filter(
    lambda n: not n.endswith(".git")
)
users = st.one_of(st.none(), st.sampled_from(["git", "me", "x-access-token:ghp_secret", "a.b"]))
ports = st.one_of(st.none(), st.integers(1, 65535))
suffixes = st.sampled_from(["", ".git", "/", ".git/"])
hosts_cases = st.sampled_from(["github.com", "GitHub.com", "GITHUB.COM"])


def _url(form: str, user: str | None, host: str, port: int | None, path: str) -> str:
    if form == "scp" and user is not None and ":" in user:
        # scp-style has no password: git reads the first colon as the end of the host.
        user = user.partition(":")[0]
    at = f"{user}@" if user else ""
    colon_port = f":{port}" if port is not None else ""
    if form == "scp":
        return f"{at}{host}:{path}"
    return f"{form}://{at}{host}{colon_port}/{path}"


forms = st.sampled_from(["scp", "ssh", "git+ssh", "https", "http", "git"])


@given(forms, users, hosts_cases, ports, owners, names, suffixes)
def test_every_url_form_of_github_gives_owner_and_name(
    form: str, user: str | None, host: str, port: int | None, owner: str, name: str, suffix: str
) -> None:
    url = _url(form, user, host, None if form == "scp" else port, f"{owner}/{name}{suffix}")
    assert parse_github_remote(url, GITHUB) == (owner, name)
    assert parse_github_remote(f"  {url}\n", GITHUB) == (owner, name)


@given(
    forms,
    users,
    st.sampled_from(["gitlab.com", "github.com.evil.example", "evilgithub.com", "ghe.example"]),
    ports,
    owners,
    names,
    suffixes,
)
def test_other_hosts_are_refused(
    form: str, user: str | None, host: str, port: int | None, owner: str, name: str, suffix: str
) -> None:
    url = _url(form, user, host, None if form == "scp" else port, f"{owner}/{name}{suffix}")
    assert parse_github_remote(url, GITHUB) is None


@given(forms, users, owners, names, suffixes)
def test_a_configured_enterprise_host_is_accepted(
    form: str, user: str | None, owner: str, name: str, suffix: str
) -> None:
    url = _url(form, user, "ghe.example", None, f"{owner}/{name}{suffix}")
    assert parse_github_remote(url, ("ghe.example",)) == (owner, name)
    assert parse_github_remote(url, GITHUB) is None


@given(forms, owners, names, st.sampled_from(["/extra", "/a/b", "", "?x=1", "#frag"]))
def test_paths_other_than_owner_and_name_are_refused(
    form: str, owner: str, name: str, tail: str
) -> None:
    path = f"{owner}/{name}{tail}" if tail else owner
    assert parse_github_remote(_url(form, None, "github.com", None, path), GITHUB) is None


@pytest.mark.parametrize(
    "url",
    [
        "",
        "github.com",
        "/home/me/repo",
        "./o/r",
        "file:///srv/o/r.git",
        "ftp://github.com/o/r",
        "https://github.com/o",
        "https://github.com//r",
        "https://github.com/o/..",
        "https://github.com/-o/r",
        "https://github.com:notaport/o/r",
        "ssh://git@github.com:o/r.git",
        "https://github.com/o/r%2Fx",
        "C:/o/r",
    ],
)
def test_malformed_remotes_are_refused(url: str) -> None:
    assert parse_github_remote(url, GITHUB) is None


def test_ssh_over_the_https_port_host_counts_as_github() -> None:
    assert parse_github_remote("ssh://git@ssh.github.com:443/o/r.git", GITHUB) == ("o", "r")
    assert parse_github_remote("ssh://git@ssh.github.com:443/o/r.git", ("ghe.example",)) is None


def test_trailing_git_suffixes_are_all_removed() -> None:
    assert parse_github_remote("https://github.com/o/r.git.git", GITHUB) == ("o", "r")


# --- real repositories ------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def new_repo(path: Path, *, commit: bool = True, remote: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    if commit:
        (path / "file").write_text("x\n")
        git(path, "add", "file")
        git(path, "commit", "-q", "-m", "first")
    if remote is not None:
        git(path, "remote", "add", "origin", remote)
    return path


def head_of(path: Path) -> str:
    return git(path, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:octo/hello.git",
        "github.com:octo/hello",
        "ssh://git@github.com/octo/hello",
        "ssh://git@github.com:22/octo/hello.git",
        "git+ssh://git@github.com/octo/hello",
        "https://github.com/octo/hello",
        "https://user@github.com/octo/hello.git",
        "https://github.com/octo/hello/",
        "http://github.com/octo/hello.git",
        "git://github.com/octo/hello.git",
    ],
)
def test_each_remote_form_is_found(tmp_path: Path, url: str) -> None:
    repo = new_repo(tmp_path / "r", remote=url)
    assert find_repository(str(repo)) == Repository(str(repo), "octo", "hello", head_of(repo))


def test_a_subdirectory_finds_the_work_tree_root(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", remote="git@github.com:o/r.git")
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    assert find_repository(str(deep)) == Repository(str(repo), "o", "r", head_of(repo))


def test_not_a_repository(tmp_path: Path) -> None:
    assert find_repository(str(tmp_path)) is None
    assert find_repository(str(tmp_path / "missing")) is None


def test_a_non_github_origin_and_no_other_remote_is_no_repository(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", remote="https://gitlab.com/o/r.git")
    assert find_repository(str(repo)) is None
    assert find_repository(str(repo), hosts=("gitlab.com",)) is not None


def test_no_origin_takes_the_first_github_remote(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    git(repo, "remote", "add", "mirror", "https://gitlab.com/x/y.git")
    git(repo, "remote", "add", "upstream", "git@github.com:up/stream.git")
    git(repo, "remote", "add", "fork", "git@github.com:me/fork.git")
    assert find_repository(str(repo)) == Repository(str(repo), "up", "stream", head_of(repo))


def test_origin_wins_over_other_remotes(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    git(repo, "remote", "add", "upstream", "git@github.com:up/stream.git")
    git(repo, "remote", "add", "origin", "git@github.com:me/mine.git")
    found = find_repository(str(repo))
    assert found is not None
    assert (found.owner, found.name) == ("me", "mine")


def test_the_branch_upstream_remote_comes_before_other_remotes(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    git(repo, "remote", "add", "aaa", "git@github.com:first/listed.git")
    git(repo, "remote", "add", "fork", "git@github.com:me/fork.git")
    git(repo, "config", "branch.main.remote", "fork")
    found = find_repository(str(repo))
    assert found is not None
    assert (found.owner, found.name) == ("me", "fork")


def test_insteadof_rules_are_applied(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", remote="gh:o/r")
    assert find_repository(str(repo)) is None
    git(repo, "config", "url.git@github.com:.insteadOf", "gh:")
    assert git(repo, "remote", "get-url", "origin") == "git@github.com:o/r"
    found = find_repository(str(repo))
    assert found is not None
    assert (found.owner, found.name) == ("o", "r")


def test_packed_refs(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", remote="git@github.com:o/r.git")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert find_repository(str(repo)) == Repository(str(repo), "o", "r", head_of(repo))


def test_detached_head(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", remote="git@github.com:o/r.git")
    first = head_of(repo)
    (repo / "file").write_text("y\n")
    git(repo, "commit", "-q", "-am", "second")
    git(repo, "checkout", "-q", "--detach", first)
    found = find_repository(str(repo))
    assert found is not None
    assert found.head == first


def test_unborn_branch_has_no_head(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", commit=False, remote="git@github.com:o/r.git")
    assert find_repository(str(repo)) == Repository(str(repo), "o", "r", None)


def test_worktree(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", remote="git@github.com:o/r.git")
    git(repo, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    wt = tmp_path / "wt"
    (wt / "file").write_text("feature\n")
    git(wt, "commit", "-q", "-am", "on feature")
    assert (wt / ".git").is_file()
    found = find_repository(str(wt))
    assert found == Repository(str(wt), "o", "r", head_of(wt))
    assert head_of(wt) != head_of(repo)


def test_worktree_with_packed_refs(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", remote="git@github.com:o/r.git")
    git(repo, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    git(repo, "pack-refs", "--all")
    found = find_repository(str(tmp_path / "wt"))
    assert found is not None
    assert found.head == head_of(tmp_path / "wt")


def test_submodule_uses_its_own_remote(tmp_path: Path) -> None:
    library = new_repo(tmp_path / "library")
    outer = new_repo(tmp_path / "outer", remote="git@github.com:o/outer.git")
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "lib")
    sub = outer / "lib"
    git(sub, "remote", "set-url", "origin", "https://github.com/o/library.git")
    assert (sub / ".git").is_file()
    assert find_repository(str(sub)) == Repository(str(sub), "o", "library", head_of(library))


def test_broken_repositories_never_raise(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", remote="git@github.com:o/r.git")
    (repo / ".git" / "HEAD").write_bytes(b"ref: refs/heads/../../../etc/passwd\n")
    assert find_repository(str(repo)) == Repository(str(repo), "o", "r", None)
    (repo / ".git" / "HEAD").write_bytes(b"\xff\xfe garbage")
    assert find_repository(str(repo)) == Repository(str(repo), "o", "r", None)
    (repo / ".git" / "config").write_bytes(b"\xff[[[")
    assert find_repository(str(repo)) is None
    dangling = tmp_path / "dangling"
    dangling.mkdir()
    (dangling / ".git").write_text("gitdir: /nonexistent/.git/worktrees/x\n")
    assert find_repository(str(dangling)) is None


def test_packed_refs_pick_the_branch_of_head_among_many(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r", remote="git@github.com:o/r.git")
    first = head_of(repo)
    git(repo, "tag", "-a", "-m", "annotated", "v1")
    git(repo, "branch", "old-main")
    git(repo, "checkout", "-q", "-b", "feature/main")
    (repo / "file").write_text("feature\n")
    git(repo, "commit", "-q", "-am", "feature")
    git(repo, "checkout", "-q", "-b", "work")
    (repo / "file").write_text("work\n")
    git(repo, "commit", "-q", "-am", "work")
    work = head_of(repo)
    git(repo, "pack-refs", "--all")
    assert "^" in (repo / ".git" / "packed-refs").read_text()  # a peeled tag line
    found = find_repository(str(repo))
    assert found is not None
    assert found.head == work
    git(repo, "checkout", "-q", "main")
    found = find_repository(str(repo))
    assert found is not None
    assert found.head == first
