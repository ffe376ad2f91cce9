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
from flux_devkit.services.git_http import GitServer
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


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("--upload-pack=/tmp/run-me", "is not http(s)://"),
        ("-c core.sshCommand=sh", "whitespace or control"),
        ("git@github.com:org/repo.git", "scp-like"),
        ("ext::sh -c touch% /tmp/pwned", "whitespace or control"),
        ("ext::sh", "is not http(s)://"),
        ("ftp://example.com/repo.git", "is not http(s)://"),
        ("https://example.com/a\nb.git", "whitespace or control"),
        ("https://example.com/a\x7fb.git", "whitespace or control"),
        ("https:///repo.git", "names no host"),
        ("https://example.com:port/repo.git", "not a valid URL"),
        ("https://[::1/repo.git", "not a valid URL"),
        ("https://bot:s3cret-in-url@example.com/repo.git", "carries a password"),
        ("ssh://h%0aProxyCommand=touch/repo.git", "not a valid host name"),
        ("https://example.com/" + "a" * 5000, "longer than 4096"),
    ],
)
def test_hostile_urls_are_refused_before_git_runs(url: str, problem: str) -> None:
    with pytest.raises(GitError) as info:
        GitRemote(url, obj=OBJ)
    assert problem in info.value.message and info.value.field == "spec.url"
    assert "s3cret-in-url" not in str(info.value) and len(str(info.value)) < 1000


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
