"""GitRemote against real servers: user values stay data, credentials reach only the source's origin.

Every case goes through a real git process: the smart-HTTP server (a second instance on
another port stands in for "another host"), the HTTPS server with its own CA and bearer
tokens, file:// remotes (where git itself would run ``--upload-pack``/``--receive-pack``
commands) and OpenSSH's sshd.
"""

from __future__ import annotations

import http.server
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.git.errors import GitAuthError, GitError, GitUnreachableError
from airflow_flux_provider.git.refs import RefSpec
from airflow_flux_provider.git.remote import GitRemote
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.git import GitRef, GitSource
from airflow_flux_provider.tools import git_path
from flux_devkit.services.git_http import GitServer, start_git_server
from flux_devkit.services.git_ssh import GitSSHServer

OBJ = "GitRepository/flux-system/app"
IDENT = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run([git_path(), *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout


def _files(store: ArtifactStore) -> dict[str, str]:
    artifact = store.latest(OBJ)
    assert artifact is not None and artifact.path is not None
    with tarfile.open(artifact.path) as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def other_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    """A second git server on another port: another origin, which must never see our credentials."""
    root = tmp_path_factory.mktemp("other-host")
    server = start_git_server(root / "repos", username="other", password="other-secret")
    yield server
    server.stop()


def test_values_starting_with_a_dash_are_data_never_options(git_server: GitServer, tmp_path: Path) -> None:
    """On a file:// remote git runs --upload-pack/--receive-pack commands itself: they must stay data."""
    git_server.create_repo("git-dash", {"a.txt": "1"})
    url = git_server.repo_path("git-dash").as_uri()
    marker = tmp_path / "pwned"
    work = tmp_path / "work"
    _git("clone", "--quiet", url, str(work))
    with GitRemote(url, obj=OBJ).connect() as git:
        assert git.ls_remote(f"--upload-pack=touch {marker}") == {}
        with pytest.raises(GitError, match="invalid refspec"):
            git.fetch(work / ".git", f"--upload-pack=touch {marker}")
        with pytest.raises(GitError):
            git.push(work, [RefSpec(f"--receive-pack=touch {marker}", "refs/heads/main")])
        with pytest.raises(GitError):
            git.push(work, [RefSpec("HEAD", "refs/heads/main")], {"--receive-pack=touch x": ""})
    assert not marker.exists()
    with pytest.raises(GitError, match="is not http"):
        GitRemote(f"--upload-pack=touch {marker}", obj=OBJ)
    with pytest.raises(GitError, match="whitespace or control"):
        GitRemote("https://example.com/a\nb.git", obj=OBJ)


def _add_submodule(git_server: GitServer, repo: str, path: str, url: str, commit: str, tmp: Path) -> None:
    """Commit a gitlink and .gitmodules into ``repo`` straight on disk (no credentials involved)."""
    work = tmp / "submodule-work"
    _git("clone", "--quiet", str(git_server.repo_path(repo)), str(work))
    (work / ".gitmodules").write_text(f'[submodule "lib"]\n\tpath = {path}\n\turl = {url}\n')
    _git("update-index", "--add", "--cacheinfo", f"160000,{commit},{path}", cwd=work)
    _git("add", ".gitmodules", cwd=work)
    _git(*IDENT, "commit", "--quiet", "-m", "add lib", cwd=work)
    _git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=work)


def test_submodule_on_another_host_never_gets_the_credentials(
    git_server: GitServer, other_host: GitServer, tmp_path: Path
) -> None:
    lib_url = other_host.create_repo("lib", {"base.yaml": "base: true\n"}, public=True)
    lib_commit = _git("ls-remote", lib_url, "refs/heads/main").split()[0]
    git_server.create_repo("git-with-sub", {"app.yaml": "app: 1\n"})
    _add_submodule(git_server, "git-with-sub", "vendor/lib", lib_url, lib_commit, tmp_path)
    store = ArtifactStore(str(tmp_path / "store"))
    creds = Credentials(username=git_server.username, password=git_server.password)
    source = GitSource(
        git_server.repo_url("git-with-sub"),
        obj=OBJ,
        ref=GitRef(branch="main"),
        credentials=creds,
        recurse_submodules=True,
        cache_dir=tmp_path / "cache",
    )
    source.fetch(store)
    assert _files(store)["vendor/lib/base.yaml"] == "base: true\n"
    to_lib = [r for r in other_host.seen if r.path.startswith("/lib.git/")]
    assert to_lib and all(r.authorization == "" for r in to_lib)
    assert any(r.authorization.startswith("Basic ") for r in git_server.seen if "git-with-sub" in r.path)


@pytest.fixture
def redirector(git_server: GitServer) -> Iterator[str]:
    """An HTTP server on another port that redirects every request to the git server."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"{git_server.url}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_credentials_never_follow_a_redirect(git_server: GitServer, redirector: str, tmp_path: Path) -> None:
    git_server.create_repo("git-redirected", {"a.txt": "1"}, public=True)
    url = f"{redirector}/git-redirected.git"
    secret = Credentials(username=git_server.username, password="redirect-secret")
    with pytest.raises(GitError, match="redirects elsewhere") as info:
        GitSource(
            url, obj=OBJ, credentials=secret, cache_dir=tmp_path / "c", ref=GitRef(branch="main")
        ).resolve()
    assert info.value.field == "spec.url" and "redirect-secret" not in str(info.value)
    assert not [r for r in git_server.seen if r.path.startswith("/git-redirected.git/")]
    # Without credentials there is nothing to leak: the redirect is followed.
    anonymous = GitSource(url, obj=OBJ, cache_dir=tmp_path / "c", ref=GitRef(branch="main"))
    assert anonymous.resolve().revision.startswith("main@sha1:")


def test_bearer_token_over_https_verified_by_the_connection_ca(
    git_server_tls: GitServer, tmp_path: Path
) -> None:
    assert git_server_tls.tls is not None and git_server_tls.token is not None
    url = git_server_tls.create_repo("tls-app", {"app.yaml": "tls: true\n"})
    assert url.startswith("https://")
    ca = git_server_tls.tls.ca_path.read_text()
    store = ArtifactStore(str(tmp_path / "store"))
    token = Credentials(token=git_server_tls.token, ca_cert=ca)
    GitSource(url, obj=OBJ, ref=GitRef(branch="main"), credentials=token, cache_dir=tmp_path / "c").fetch(
        store
    )
    assert _files(store) == {"app.yaml": "tls: true\n"}
    sent = {r.authorization for r in git_server_tls.seen if r.path.startswith("/tls-app.git/")}
    assert f"Bearer {git_server_tls.token}" in sent
    untrusted = GitSource(url, obj=OBJ, credentials=Credentials(token=git_server_tls.token))
    with pytest.raises(GitUnreachableError, match="CA certificate") as info:
        untrusted.resolve()
    assert git_server_tls.token not in str(info.value)


def test_ssh_key_with_passphrase_and_known_hosts(
    git_server: GitServer, git_ssh_server: GitSSHServer, tmp_path: Path
) -> None:
    git_server.create_repo("ssh-app", {"app.yaml": "over: ssh\n"})
    url = git_ssh_server.url("ssh-app")
    key = git_ssh_server.client_key
    creds = Credentials(
        ssh_private_key=key,
        ssh_passphrase=git_ssh_server.key_passphrase,
        known_hosts=git_ssh_server.known_hosts,
    )
    store = ArtifactStore(str(tmp_path / "store"))
    GitSource(url, obj=OBJ, ref=GitRef(branch="main"), credentials=creds, cache_dir=tmp_path / "c").fetch(
        store
    )
    assert _files(store) == {"app.yaml": "over: ssh\n"}

    unknown_host = Credentials(ssh_private_key=key, ssh_passphrase=git_ssh_server.key_passphrase)
    with pytest.raises(GitAuthError, match=r"host key .* is not trusted") as info:
        GitSource(url, obj=OBJ, credentials=unknown_host).resolve()
    assert info.value.field == "spec.secretRef"
    wrong = Credentials(ssh_private_key=key, ssh_passphrase="wrong", known_hosts=git_ssh_server.known_hosts)
    with pytest.raises(GitAuthError, match="refused access") as info:
        GitSource(url, obj=OBJ, credentials=wrong).resolve()
    assert key.splitlines()[1] not in str(info.value) and git_ssh_server.key_passphrase not in str(info.value)
