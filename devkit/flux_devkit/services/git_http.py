"""A Git smart-HTTP server with basic auth: ``git http-backend`` behind a stdlib HTTP server.

This is the protocol GitHub/GitLab speak over HTTPS, so the git CLI and our
GitRepository source talk to it exactly as they would to a real forge. Pushes larger
than git's ``http.postBuffer`` arrive with ``Transfer-Encoding: chunked``; the handler
decodes them before handing the body to the CGI.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, quote, urlsplit

from airflow_flux_provider.tools import git_path
from flux_devkit.sandbox.certs import ServingCert
from flux_devkit.services.files import write_tree
from flux_devkit.services.httpserver import LocalHTTPServer, LoggingHandler
from flux_devkit.services.process import ServiceError

COMMITTER = ("Flux Dev", "flux-dev@example.invalid")
_REPO_NAME = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")
# git-daemon's marker for an exported repository; here it means "clone without credentials".
PUBLIC_MARKER = "git-daemon-export-ok"


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server received it: what tests check credentials against."""

    method: str
    path: str
    authorization: str  # the Authorization header, '' when none was sent


class _GitHTTPServer(LocalHTTPServer):
    project_root: Path
    seen: list[SeenRequest]


class _GitHandler(LoggingHandler):
    server: _GitHTTPServer

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _anonymous_read(self, url: SplitResult) -> bool:
        """Fetches from a public repo need no credentials; pushes always do."""
        if "git-receive-pack" in url.path or "service=git-receive-pack" in url.query:
            return False
        repo, found, _ = url.path.lstrip("/").partition(".git/")
        return bool(found) and (self.server.project_root / f"{repo}.git" / PUBLIC_MARKER).is_file()

    def _backend(self) -> None:
        url = urlsplit(self.path)
        self.server.seen.append(SeenRequest(self.command, url.path, self.headers.get("Authorization", "")))
        if not self.authorized(anonymous_ok=self._anonymous_read(url)):
            return
        body = self._read_body() if self.command == "POST" else b""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(self.server.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": self.server.basic_auth[0] if self.server.basic_auth else "anonymous",
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        result = subprocess.run(
            [git_path(), "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        if result.stderr:
            self.server.write_log(result.stderr.decode(errors="replace").rstrip())
        head, payload = _split_cgi(result.stdout)
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitServer:
    """Bare repositories under ``root`` served over smart HTTP(S) at :attr:`url` with basic auth.

    ``token`` is accepted as ``Authorization: Bearer`` as well; ``tls`` (a serving
    certificate) makes it HTTPS; :attr:`seen` lists every request with its Authorization header.
    """

    def __init__(
        self,
        root: Path,
        username: str,
        password: str,
        log_path: Path,
        *,
        token: str | None = None,
        tls: ServingCert | None = None,
    ) -> None:
        self.root = root
        self.username = username
        self.password = password
        self.token = token
        self.tls = tls
        root.mkdir(parents=True, exist_ok=True)
        self._http = _GitHTTPServer(
            _GitHandler,
            log_path,
            basic_auth=(username, password),
            bearer_token=token,
            realm="git",
            tls=(tls.cert_path, tls.key_path) if tls else None,
        )
        self._http.project_root = root
        self._http.seen = []

    @property
    def seen(self) -> list[SeenRequest]:
        return self._http.seen

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def log_path(self) -> Path:
        return self._http.log_path

    def _dirname(self, name: str) -> str:
        if not _REPO_NAME.fullmatch(name) or ".." in name.split("/"):
            raise ServiceError(
                f"repository name {name!r} is not a plain path; use letters, digits, '.', '_', '-' and '/'",
                obj="GitServer",
            )
        return name if name.endswith(".git") else f"{name}.git"

    def repo_path(self, name: str) -> Path:
        """The bare repository's directory on disk."""
        return self.root / self._dirname(name)

    def repo_url(self, name: str) -> str:
        """Clone URL without credentials."""
        return f"{self.url}/{self._dirname(name)}"

    def auth_url(self, name: str) -> str:
        """Clone URL with the credentials embedded (for tools that take no separate auth)."""
        netloc = (
            f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@{urlsplit(self.url).netloc}"
        )
        return f"{self._http.scheme}://{netloc}/{self._dirname(name)}"

    def create_repo(
        self,
        name: str,
        files: dict[str, str | bytes] | None = None,
        branch: str = "main",
        *,
        public: bool = False,
    ) -> str:
        """Create a bare repository (seeded with one commit of ``files`` if given); return its URL.

        A ``public`` repository can be cloned without credentials (like a public GitHub repo);
        pushing to it still needs them.
        """
        path = self.repo_path(name)
        if path.exists():
            raise ServiceError(f"repository {path.name} already exists; pick another name", obj="GitServer")
        _git("init", "--quiet", "--bare", "-b", branch, str(path))
        _git("-C", str(path), "config", "http.receivepack", "true")
        if public:
            (path / PUBLIC_MARKER).touch()
        if files:
            self.commit(name, files, message="Initial commit", branch=branch)
        return self.repo_url(name)

    def commit(
        self,
        name: str,
        files: dict[str, str | bytes],
        *,
        message: str = "Update files",
        branch: str = "main",
        delete: list[str] | None = None,
    ) -> str:
        """Commit ``files`` (path -> content) onto ``branch`` in the bare repo; return the new SHA.

        A branch that does not exist yet starts from the repository's HEAD, like ``git switch -c``.
        """
        bare = self.repo_path(name)
        with tempfile.TemporaryDirectory(prefix="flux-git-seed-") as tmp:
            work = Path(tmp)
            _git("init", "--quiet", "-b", branch, str(work))
            base = next((ref for ref in (f"refs/heads/{branch}", "HEAD") if _resolves(bare, ref)), None)
            if base is not None:
                _git("-C", str(work), "fetch", "--quiet", str(bare), base)
                _git("-C", str(work), "reset", "--quiet", "--hard", "FETCH_HEAD")
            write_tree(work, files, obj=f"GitServer repository {name}")
            _git("-C", str(work), "add", "--all")
            if delete:  # git itself refuses paths outside the work tree
                _git("-C", str(work), "rm", "--quiet", "--", *delete)
            author = ["-c", f"user.name={COMMITTER[0]}", "-c", f"user.email={COMMITTER[1]}"]
            _git("-C", str(work), *author, "commit", "--quiet", "--allow-empty", "-m", message)
            _git("-C", str(work), "push", "--quiet", str(bare), f"HEAD:refs/heads/{branch}")
            return _git("-C", str(work), "rev-parse", "HEAD").strip()

    def info(self) -> dict[str, str]:
        """Endpoint first, then credentials: what a client (or the demo's connections) needs."""
        return {"url": self.url, "username": self.username, "password": self.password}

    def stop(self) -> None:
        self._http.stop()


def _split_cgi(output: bytes) -> tuple[bytes, bytes]:
    """Split CGI output into its header block and body (git ends headers with CRLF CRLF)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = output.partition(separator)
        if found:
            return head, body
    return output, b""


def _resolves(repo: Path, ref: str) -> bool:
    check = [git_path(), "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


def _git(*args: str) -> str:
    result = subprocess.run([git_path(), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        options_with_value = {"-C", "-c"}
        command = next(
            a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] not in options_with_value
        )
        raise ServiceError(
            f"git {command} failed: {result.stderr.strip()}; check the repository name and files",
            obj="GitServer",
        )
    return result.stdout


def start_git_server(
    root: Path,
    *,
    username: str = "flux",
    password: str = "flux-secret",
    log_path: Path | None = None,
    token: str | None = None,
    tls: ServingCert | None = None,
) -> GitServer:
    """Serve bare repositories under ``root`` on a free loopback port; call ``.stop()`` when done."""
    return GitServer(root, username, password, log_path or root.parent / "git-http.log", token=token, tls=tls)
