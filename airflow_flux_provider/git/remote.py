"""One way to a Git remote: the git CLI, a hardened environment and credentials scoped to one origin.

GitRepository sources (ls-remote, fetch, verification) and image-update automation
(fetch, commit, push) both go through :class:`GitRemote`. What every git process gets:

- no configuration but ours: no system or user gitconfig, no prompts, no credential helpers,
  no hooks, only the http(s), ssh and (for the user's own URL) file transports;
- credentials in its environment only (never argv, never a URL), scoped to the remote's origin
  ``scheme://host:port/``: an ``Authorization`` header through ``http.<origin>.extraHeader``,
  the CA, client certificate and ``sslVerify`` likewise, so a submodule or include on another
  host never sees them. git keeps sending the header after following a redirect, so a remote
  reached with credentials may not redirect (the error says to use the final URL);
- SSH: the key in a private file offered only to the remote's host, host keys checked
  against the connection's ``known_hosts`` alone, no agent, no user ssh config;
- every user value (URL, ref, refspec) after ``--end-of-options``.

What git prints is scrubbed of every secret and classified into :mod:`.errors` types whose
messages name the object, the field and the fix.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from airflow_flux_provider.credentials import ANONYMOUS, Credentials, ca_bundle, redact_urls
from airflow_flux_provider.git.errors import GitAuthError, GitError, GitRejectedError, GitUnreachableError
from airflow_flux_provider.git.refs import RefSpec
from airflow_flux_provider.tools import git_path

_SCHEMES = ("http", "https", "ssh", "file")
MAX_URL = 4096
_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# A host as it may appear in an ssh config ``Host`` line: no spaces, patterns or line breaks.
_SSH_HOST = re.compile(r"[A-Za-z0-9._:\-\[\]]{1,253}")
# What a git process may see of the worker's environment: locale, home, proxies, system CAs.
_INHERITED = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
)  # fmt: skip


def _any(*words: str) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


@dataclass(frozen=True)
class _Diagnosis:
    """A line of git's output matching ``pattern`` means ``error``, blamed on a :class:`Blame` field."""

    pattern: re.Pattern[str]
    error: type[GitError]
    blamed: str  # "url" or "credentials"
    message: str  # formatted with found, url, host, url_field, credentials_field


#: What git's output means, checked in order.
_DIAGNOSES = (
    _Diagnosis(
        _any("host key verification failed", "no matching host key"),
        GitAuthError,
        "credentials",
        "the SSH host key of {host} is not trusted ({found}); add it to known_hosts in the connection "
        "(ssh-keyscan prints it)",
    ),
    _Diagnosis(
        _any(
            "could not resolve",
            "connection refused",
            "failed to connect",
            "couldn't connect",
            "timed out",
            "unreachable",
            "ssl certificate",
            "certificate verify",
            "server certificate verification",
        ),
        GitUnreachableError,
        "url",
        "cannot reach {url} ({found}); check {url_field}, the network and, for HTTPS, the CA certificate "
        "of the connection",
    ),
    _Diagnosis(
        _any(
            "authentication failed",
            "returned error: 401",
            "returned error: 403",
            "permission denied",
            "could not read username",
            "could not read password",
        ),
        GitAuthError,
        "credentials",
        "the remote refused access ({found}); check the username/password, token or SSH key of the "
        "connection named by {credentials_field}",
    ),
    _Diagnosis(
        re.compile(r"returned error: 30[1278]"),
        GitError,
        "url",
        "{url} redirects elsewhere ({found}); credentials are never sent to a redirect target, so set "
        "{url_field} to the repository's final URL",
    ),
)
_REJECTED = _any("rejected")
_RACE = _any("non-fast-forward", "fetch first", "failed to update ref", "cannot lock ref")
_NOT_A_REPOSITORY = _any("does not appear to be a git repository", "not found")


@dataclass(frozen=True)
class Blame:
    """The spec fields an error points at: where the URL and the credentials are configured."""

    url: str = "spec.url"
    credentials: str = "spec.secretRef"


class GitRemote:
    """A remote repository, its credentials and a timeout per git command; ``obj`` names it in errors."""

    def __init__(
        self,
        url: str,
        *,
        obj: str,
        credentials: Credentials = ANONYMOUS,
        timeout: float = 60.0,
        blame: Blame = Blame(),
    ) -> None:
        self.url, self.obj, self.credentials, self.timeout, self.blame = url, obj, credentials, timeout, blame
        parts = _checked_url(url, obj, blame.url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/"

    @contextlib.contextmanager
    def connect(self) -> Iterator[GitSession]:
        """A session whose git commands carry this remote's credentials; key files live as long as it."""
        with tempfile.TemporaryDirectory(prefix="flux-git-") as private:
            yield GitSession(self, self._environment(Path(private)))

    # -- the environment -------------------------------------------------------------------

    def _environment(self, private: Path) -> dict[str, str]:
        env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        env.update(
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_TERMINAL_PROMPT="0",
            GIT_ASKPASS="/bin/false",
            SSH_ASKPASS="/bin/false",
        )
        config: list[tuple[str, str]] = [
            ("credential.helper", ""),
            ("core.hooksPath", os.devnull),
            ("protocol.version", "2"),
            ("protocol.allow", "never"),
            ("protocol.http.allow", "always"),
            ("protocol.https.allow", "always"),
            ("protocol.ssh.allow", "always"),
            ("protocol.file.allow", "user"),  # the user's own file:// URL; never from a submodule
        ]
        if self.scheme in ("http", "https"):
            config += self._http_config(private)
        if self.scheme == "ssh":
            env.update(self._ssh_environment(private))
        return _with_config(env, config)

    def _http_config(self, private: Path) -> list[tuple[str, str]]:
        """``http.<origin>.*`` settings: they apply to this origin only, never to another host."""
        creds, scope = self.credentials, f"http.{self.origin}"
        config: list[tuple[str, str]] = []
        header = None
        if creds.token and not creds.password:
            header = f"Authorization: Bearer {creds.token}"
        elif creds.basic_auth is not None:
            pair = ":".join(creds.basic_auth).encode()
            header = f"Authorization: Basic {base64.b64encode(pair).decode()}"
        if header:
            config += [(f"{scope}.extraHeader", header), (f"{scope}.followRedirects", "false")]
        if creds.ca_cert:
            config.append((f"{scope}.sslCAInfo", ca_bundle(creds.ca_cert)))
        if creds.client_cert and creds.client_key:
            config.append((f"{scope}.sslCert", str(_private_file(private / "tls.crt", creds.client_cert))))
            config.append((f"{scope}.sslKey", str(_private_file(private / "tls.key", creds.client_key))))
        if creds.insecure:
            config.append((f"{scope}.sslVerify", "false"))
        return config

    def _ssh_environment(self, private: Path) -> dict[str, str]:
        """An ssh config of our own: the key for this host only, host keys from known_hosts only."""
        creds = self.credentials
        env: dict[str, str] = {}
        known_hosts = _private_file(private / "known_hosts", creds.known_hosts or "")
        lines = []
        if creds.ssh_private_key:
            key = _private_file(private / "identity", creds.ssh_private_key.rstrip("\n") + "\n")
            lines += [f"Host {self.host}", f'  IdentityFile "{key}"', f"Host * !{self.host}"]
        lines += ["  IdentityFile none", "Host *"]
        lines += [
            f'  UserKnownHostsFile "{known_hosts}"',
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  IdentitiesOnly yes",
            "  IdentityAgent none",
            "  PasswordAuthentication no",
            "  KbdInteractiveAuthentication no",
            "  ConnectTimeout 30",
        ]
        if creds.ssh_passphrase:
            env.update(askpass_environment(private, creds.ssh_passphrase))
            lines.append("  BatchMode no")
        else:
            lines.append("  BatchMode yes")
        config = _private_file(private / "ssh_config", "\n".join(lines) + "\n")
        env["GIT_SSH_COMMAND"] = f"ssh -F {shlex.quote(str(config))}"
        env["GIT_SSH_VARIANT"] = "ssh"
        return env

    # -- errors ----------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` without secrets or the credential-bearing parts of any URL."""
        return self.credentials.scrub(redact_urls(text))

    def error(self, verb: str, output: str) -> GitError:
        """Classify what git printed (scrubbed) into the first :data:`_DIAGNOSES` entry that matches."""
        lines = [
            line.strip()
            for line in self.scrub(output).splitlines()
            if line.strip() and not line.lstrip().startswith("hint:")
        ] or ["no output"]

        def cause(pattern: re.Pattern[str]) -> str | None:
            return next((line for line in lines if pattern.search(line)), None)

        facts = {"url": self.url, "host": self.host, "url_field": self.blame.url}
        facts["credentials_field"] = self.blame.credentials
        for diagnosis in _DIAGNOSES:
            if found := cause(diagnosis.pattern):
                field = getattr(self.blame, diagnosis.blamed)
                return diagnosis.error(
                    diagnosis.message.format(found=found, **facts), obj=self.obj, field=field
                )
        if verb == "push" and (found := cause(_REJECTED)):
            race = cause(_RACE) is not None
            return GitRejectedError(
                f"the remote rejected the push ({found})", obj=self.obj, field=self.blame.url, race=race
            )
        if found := cause(_NOT_A_REPOSITORY):
            return GitError(
                f"{self.url} is not a Git repository ({found}); check {self.blame.url}",
                obj=self.obj,
                field=self.blame.url,
            )
        return GitError(
            f"git {verb} failed: {lines[-1][:500]}; check {self.blame.url} and the network, then retry",
            obj=self.obj,
            field=self.blame.url,
        )


class GitSession:
    """git commands for one :class:`GitRemote`, all with its environment."""

    def __init__(self, remote: GitRemote, env: Mapping[str, str]) -> None:
        self.remote = remote
        self.env = dict(env)

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        config: Sequence[tuple[str, str]] = (),
    ) -> str:
        """``git args`` (options first, user values after ``--end-of-options``); stdout, or a GitError.

        ``env`` and ``config`` (git settings, passed through the environment) add to the session's.
        """
        verb = next(a for a in args if not a.startswith("-"))
        try:
            proc = subprocess.run(
                [git_path(), *args],
                input=stdin,
                env={**_with_config(self.env, config), **(env or {})},
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=self.remote.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitUnreachableError(
                f"git {verb} of {self.remote.url} took longer than {self.remote.timeout:g}s; check the host "
                "or raise spec.timeout",
                obj=self.remote.obj,
                field=self.remote.blame.url,
            ) from None
        if proc.returncode != 0:
            raise self.remote.error(verb, f"{proc.stderr}\n{proc.stdout}")
        return proc.stdout

    def ls_remote(self, *patterns: str, tags: bool = False) -> dict[str, str]:
        """Remote ref name -> object id for the refs matching ``patterns`` (all refs without any)."""
        flags = ["--tags"] if tags else []
        out = self.run("ls-remote", *flags, "--end-of-options", self.remote.url, *patterns)
        refs: dict[str, str] = {}
        for line in out.splitlines():
            oid, _, name = line.partition("\t")
            if _OID.fullmatch(oid):  # whatever else a server sends is not a ref
                refs[name] = oid
        return refs

    def fetch(self, git_dir: Path, *refspecs: str, depth: int | None = 1) -> None:
        """Fetch ``refspecs`` from the remote into ``git_dir`` (no tags); the last one lands in FETCH_HEAD."""
        flags = ["--quiet", "--no-tags", *([f"--depth={depth}"] if depth else [])]
        self.run(f"--git-dir={git_dir}", "fetch", *flags, "--end-of-options", self.remote.url, *refspecs)

    def push(self, work: Path, refspecs: Sequence[RefSpec], options: Mapping[str, str] | None = None) -> None:
        """Push ``refspecs`` from the repository at ``work``, with ``options`` as push options."""
        sent = [
            f"--push-option={key}={value}" if value else f"--push-option={key}"
            for key, value in (options or {}).items()
        ]
        self.run(
            "push",
            "--porcelain",
            *sent,
            "--end-of-options",
            self.remote.url,
            *(str(r) for r in refspecs),
            cwd=work,
        )


def askpass_environment(folder: Path, passphrase: str) -> dict[str, str]:
    """Environment for ssh and ssh-keygen to read a key's passphrase without a terminal.

    They ask a program (``SSH_ASKPASS``); the one written into ``folder`` prints the
    passphrase from their own environment, so it is never in a file or on a command line.
    """
    program = folder / "askpass"
    if not program.exists():
        program.write_text('#!/bin/sh\nprintf "%s\\n" "$FLUX_SSH_PASSPHRASE"\n')
        program.chmod(0o700)
    return {
        "SSH_ASKPASS": str(program),
        "SSH_ASKPASS_REQUIRE": "force",
        "DISPLAY": ":0",
        "FLUX_SSH_PASSPHRASE": passphrase,
    }


def _checked_url(url: str, obj: str, field: str) -> SplitResult:
    """``url`` split, if git may be given it: a known scheme, a host, no password, nothing hidden."""
    shown = repr(redact_urls(url[:300]) + ("…" if len(url) > 300 else ""))

    def bad(problem: str) -> GitError:
        return GitError(f"url {shown} {problem}", obj=obj, field=field)

    if len(url) > MAX_URL:
        raise bad(f"is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise bad("contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise bad("is not a valid URL (check the host and port)") from None
    if parts.scheme not in _SCHEMES or not re.match(r"^[a-z]+://", url):
        raise bad(
            "is not http(s)://, ssh:// or file://; "
            "write ssh://user@host/repo instead of the scp-like user@host:repo"
        )
    if parts.scheme != "file" and not parts.hostname:
        raise bad("names no host")
    if parts.scheme == "ssh" and not _SSH_HOST.fullmatch(parts.hostname or ""):
        raise bad("names a host that is not a valid host name")
    if parts.password is not None:
        raise bad("carries a password, which would show in the process list; put it in the connection")
    return parts


def _with_config(env: Mapping[str, str], config: Sequence[tuple[str, str]]) -> dict[str, str]:
    """``env`` plus git settings in ``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` (never on argv)."""
    out = dict(env)
    first = int(out.get("GIT_CONFIG_COUNT", "0"))
    for i, (key, value) in enumerate(config, start=first):
        out[f"GIT_CONFIG_KEY_{i}"] = key
        out[f"GIT_CONFIG_VALUE_{i}"] = value
    out["GIT_CONFIG_COUNT"] = str(first + len(config))
    return out


def _private_file(path: Path, text: str) -> Path:
    """``text`` in a new file only the owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path
