"""The git_server fixture speaks real smart HTTP: GitPython clones and pushes through it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import git
import pytest

from airflow_flux_provider.tools import git_path
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.process import ServiceError


def test_clone_push_and_clone_again(git_server: GitServer, tmp_path: Path) -> None:
    url = git_server.create_repo("svc-fleet", {"apps/podinfo.yaml": "replicas: 1\n", "bin/blob": b"\x00\x01"})
    assert url == f"{git_server.url}/svc-fleet.git"
    assert (git_server.repo_path("svc-fleet") / "HEAD").read_text().strip() == "ref: refs/heads/main"

    clone = git.Repo.clone_from(git_server.auth_url("svc-fleet"), tmp_path / "a", branch="main")
    assert (tmp_path / "a" / "apps" / "podinfo.yaml").read_text() == "replicas: 1\n"
    assert (tmp_path / "a" / "bin" / "blob").read_bytes() == b"\x00\x01"

    # Larger than git's 1 MiB http.postBuffer, so the push body arrives chunked.
    (tmp_path / "a" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (tmp_path / "a" / "apps" / "podinfo.yaml").write_text("replicas: 3\n")
    clone.index.add(["big.bin", "apps/podinfo.yaml"])
    pushed = clone.index.commit("scale podinfo", author=git.Actor("t", "t@example.invalid"))
    (info,) = clone.remote("origin").push("main")
    assert not info.flags & info.ERROR

    again = git.Repo.clone_from(git_server.auth_url("svc-fleet"), tmp_path / "b", branch="main", depth=1)
    assert again.head.commit.hexsha == pushed.hexsha
    assert (tmp_path / "b" / "apps" / "podinfo.yaml").read_text() == "replicas: 3\n"
    assert (tmp_path / "b" / "big.bin").stat().st_size == 3 * 1024 * 1024


def test_commit_helper_moves_branch_and_is_visible_over_http(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("svc-moving", {"a.txt": "1", "old.txt": "gone soon"})
    sha = git_server.commit("svc-moving", {"a.txt": "2"}, message="bump", delete=["old.txt"])
    refs = git.cmd.Git().ls_remote(git_server.auth_url("svc-moving"), "refs/heads/main")
    assert refs.split()[0] == sha

    release = git_server.commit("svc-moving", {"a.txt": "3"}, message="release branch", branch="release")
    clone = git.Repo.clone_from(git_server.auth_url("svc-moving"), tmp_path / "m", branch="main")
    assert sorted(p.name for p in (tmp_path / "m").iterdir() if p.name != ".git") == ["a.txt"]
    assert (tmp_path / "m" / "a.txt").read_text() == "2"
    assert clone.head.commit.message.strip() == "bump"
    assert clone.git.ls_remote("origin", "refs/heads/release").split()[0] == release
    clone.git.fetch("origin", "release")
    assert clone.commit("FETCH_HEAD").parents[0].hexsha == sha  # a new branch starts from main


def test_wrong_password_and_no_credentials_are_rejected(git_server: GitServer, tmp_path: Path) -> None:
    url = git_server.create_repo("svc-private", {"x": "y"})
    bad = url.replace("http://", f"http://{git_server.username}:wrong@")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
    for target in (bad, url):
        result = subprocess.run(
            [git_path(), "ls-remote", target], capture_output=True, text=True, env=env, check=False
        )
        assert result.returncode != 0
        assert "Authentication failed" in result.stderr or "could not read Username" in result.stderr
    with pytest.raises(git.GitCommandError):
        git.Repo.clone_from(bad, tmp_path / "c", env=env)


def test_creating_an_existing_repo_or_a_bad_name_is_a_clear_error(git_server: GitServer) -> None:
    git_server.create_repo("svc-twice")
    with pytest.raises(ServiceError, match="already exists"):
        git_server.create_repo("svc-twice")
    for bad in ("../escape", "a b", "/abs", ""):
        with pytest.raises(ServiceError, match="is not a plain path"):
            git_server.create_repo(bad)
    for outside in ("/tmp/planted", "../planted", "apps/../../planted"):
        with pytest.raises(ServiceError, match="must be relative and stay inside the tree"):
            git_server.commit("svc-twice", {outside: "x"})
    with pytest.raises(ServiceError, match="git rm failed"):
        git_server.commit("svc-twice", {"a": "b"}, delete=["/etc/hostname"])


def test_nested_repo_names_work_like_forge_paths(git_server: GitServer, tmp_path: Path) -> None:
    files = {"clusters/prod/kustomization.yaml": "resources: []\n"}
    url = git_server.create_repo("svc-team/fleet-infra", files, public=True)
    assert url.endswith("/svc-team/fleet-infra.git")
    git.Repo.clone_from(url, tmp_path / "nested")  # public: no credentials needed
    assert (tmp_path / "nested" / "clusters" / "prod" / "kustomization.yaml").is_file()


def test_public_repo_clones_anonymously_push_needs_auth(git_server: GitServer, tmp_path: Path) -> None:
    url = git_server.create_repo("svc-public", {"README.md": "public\n"}, public=True)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
    clone = git.Repo.clone_from(url, tmp_path / "pub", env=env)
    assert (tmp_path / "pub" / "README.md").read_text() == "public\n"

    (tmp_path / "pub" / "README.md").write_text("defaced\n")
    clone.index.add(["README.md"])
    clone.index.commit("anonymous change", author=git.Actor("t", "t@example.invalid"))
    with pytest.raises(git.GitCommandError, match=r"Authentication failed|could not read Username"):
        clone.git.push("origin", "main", env=env)
    # The private repos of the same server stay closed.
    git_server.create_repo("svc-still-private", {"a": "b"})
    with pytest.raises(git.GitCommandError):
        git.Repo.clone_from(git_server.repo_url("svc-still-private"), tmp_path / "priv", env=env)
