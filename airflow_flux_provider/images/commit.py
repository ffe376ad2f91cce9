"""ImageUpdateAutomation's Git half: clone, run the setters, commit, push, retry on races.

A fresh clone per run (as the controller does), the push branch checked out on top of
the remote one when it exists, and one commit only when a setter changed a byte. When the
push is refused as non-fast-forward (someone else pushed meanwhile) the run fetches,
starts again from the new tip and re-applies the setters — so what gets pushed is always
the policy results on top of the latest remote state, never a force-push.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import git

from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.images import setters
from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import UpdateResult
from airflow_flux_provider.images.template import NamespacedName, parse, render, template_data
from airflow_flux_provider.specs.images import ImageUpdateAutomation
from airflow_flux_provider.tools import git_path

_REJECTED = ("non-fast-forward", "fetch first", "rejected", "failed to update ref", "cannot lock ref")


@dataclass(frozen=True)
class Signing:
    """``spec.git.commit.signingKey``: an armored GPG key or an OpenSSH private key."""

    key: str = field(repr=False)
    type: str = "gpg"
    passphrase: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Automation:
    """What one ImageUpdateAutomation run needs, already resolved from its spec."""

    name: NamespacedName
    url: str
    checkout_branch: str = "main"
    push_branch: str | None = None
    refspec: str | None = None
    path: str = "."
    author_name: str = "Flux"
    author_email: str = "flux@localhost"
    message_template: str | None = None
    template_values: Mapping[str, str] = field(default_factory=dict)
    legacy_template_data: bool = False
    signing: Signing | None = None

    @property
    def ref(self) -> str:
        return f"ImageUpdateAutomation/{self.name.Namespace}/{self.name.Name}"

    @classmethod
    def from_object(
        cls,
        obj: ImageUpdateAutomation,
        url: str,
        *,
        signing_key: str | None = None,
        signing_passphrase: str | None = None,
        branch: str = "main",
    ) -> Automation:
        """The run an ImageUpdateAutomation describes, against the GitRepository at ``url``.

        ``branch`` is the GitRepository's branch, used when ``git.checkout`` is not set.
        """
        spec = obj.spec
        if spec.git is None:
            raise ImageError("spec.git is required to commit updates", obj=obj.ref, field="spec.git")
        commit, push, checkout = spec.git.commit, spec.git.push, spec.git.checkout
        signing = None
        if commit.signing_key is not None:
            if not signing_key:
                raise ImageError(
                    "signingKey is set but no key was given; pass the key from the connection or Secret",
                    obj=obj.ref,
                    field="spec.git.commit.signingKey",
                )
            signing = Signing(signing_key, commit.signing_key.type, signing_passphrase)
        return cls(
            name=NamespacedName(obj.metadata.namespace, obj.metadata.name),
            url=url,
            checkout_branch=(checkout.ref.branch if checkout and checkout.ref.branch else branch),
            push_branch=push.branch if push else None,
            refspec=push.refspec if push else None,
            path=spec.update.path or ".",
            author_name=commit.author.name or "",
            author_email=commit.author.email,
            message_template=commit.message_template,
            template_values=dict(commit.message_template_values),
            legacy_template_data=obj.legacy_template_data,
            signing=signing,
        )


@dataclass
class CommitResult:
    """``revision`` is the pushed commit (None when nothing changed); ``attempts`` counts pushes."""

    result: UpdateResult
    revision: str | None = None
    message: str = ""
    branch: str = ""
    attempts: int = 0


def _auth_env(credentials: Credentials) -> dict[str, str]:
    """Basic auth as an HTTP header in git's environment: never in a URL, a file or argv."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    if credentials.basic_auth is not None:
        token = base64.b64encode(":".join(credentials.basic_auth).encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraHeader",
            GIT_CONFIG_VALUE_0=f"Authorization: Basic {token}",
        )
    return env


class _Run:
    def __init__(self, automation: Automation, credentials: Credentials, workdir: Path) -> None:
        self.a, self.credentials, self.workdir = automation, credentials, workdir
        self.env = _auth_env(credentials)
        self.sign: list[str] = []
        self.push_branch = automation.push_branch or (
            None if automation.refspec else automation.checkout_branch
        )

    def call(self, repo: git.Repo, *args: str) -> str:
        try:
            return str(repo.git.execute([str(git_path()), *args], env={**os.environ, **self.env}))
        except git.GitCommandError as err:
            raw = f"{err.stdout or ''} {err.stderr or ''}"
            raise _GitFailure(args[0], self._stderr(err), any(w in raw for w in _REJECTED)) from None

    def _stderr(self, err: git.GitCommandError) -> str:
        """Git's own words without hints or GitPython's quoting, secrets scrubbed."""
        text = str(err.stderr or "").strip().removeprefix("stderr: '").removesuffix("'")
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("hint:")]
        return self.credentials.scrub(" ".join(lines))

    def clone(self) -> git.Repo:
        target = self.workdir / "checkout"
        try:
            git.Repo.clone_from(
                self.a.url,
                target,
                branch=self.a.checkout_branch,
                env={**os.environ, **self.env},
                no_tags=True,
            )
        except git.GitCommandError as err:
            why = self._stderr(err)[-300:]
            raise ImageError(
                f"cannot clone {self.a.url} at branch {self.a.checkout_branch!r}: {why}; "
                "check the GitRepository URL, branch and credentials",
                obj=self.a.ref,
                field="spec.git.checkout.ref.branch",
            ) from None
        repo = git.Repo(target)
        if self.push_branch and self.push_branch != self.a.checkout_branch:
            self._switch_to_push_branch(repo)
        return repo

    def _switch_to_push_branch(self, repo: git.Repo) -> None:
        assert self.push_branch is not None
        remote = self.call(repo, "ls-remote", "--heads", "origin", f"refs/heads/{self.push_branch}")
        if remote.strip():
            self.call(repo, "fetch", "--quiet", "origin", f"refs/heads/{self.push_branch}")
            self.call(repo, "checkout", "--quiet", "-B", self.push_branch, "FETCH_HEAD")
        else:
            self.call(repo, "checkout", "--quiet", "-b", self.push_branch)

    def commit(
        self, repo: git.Repo, policies: Mapping[str, PolicyResult]
    ) -> tuple[UpdateResult, str | None, str]:
        result = setters.apply_setters(Path(repo.working_dir), self.a.path, policies, obj=self.a.ref)
        if not result.changes or not repo.is_dirty(untracked_files=False):
            return result, None, ""
        data = template_data(self.a.name, result, self.a.template_values, legacy=self.a.legacy_template_data)
        message = render(self.a.message_template, data)
        identity = [
            "-c",
            f"user.name={self.a.author_name}",
            "-c",
            f"user.email={self.a.author_email}",
        ]
        if self.a.signing and not self.sign:
            self.sign = self._signing_args(self.a.signing)
        self.call(repo, "add", "--update", "--", ".")
        self.call(repo, *identity, *self.sign, "commit", "--quiet", "--no-verify", "-m", message)
        return result, repo.head.commit.hexsha, message

    def _signing_args(self, signing: Signing) -> list[str]:
        """``git -c`` options that sign with the key, imported into a private keyring once."""
        keys = self.workdir / "signing"
        keys.mkdir(mode=0o700, exist_ok=True)
        if signing.type == "ssh":
            if signing.passphrase:
                raise ImageError(
                    "SSH signing keys with a passphrase are not supported; use an unencrypted key or GPG",
                    obj=self.a.ref,
                    field="spec.git.commit.signingKey",
                )
            key_file = keys / "id"
            key_file.write_text(signing.key.strip() + "\n")
            key_file.chmod(0o600)
            return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key_file}", "-c", "commit.gpgsign=true"]
        self.env["GNUPGHOME"] = str(keys)
        imported = subprocess.run(
            ["gpg", "--batch", "--status-fd", "1", "--import"],
            input=signing.key.encode(),
            capture_output=True,
            env={**os.environ, "GNUPGHOME": str(keys)},
            check=False,
        )
        fingerprints = [
            line.split()[-1] for line in imported.stdout.decode().splitlines() if " IMPORT_OK " in line
        ]
        if imported.returncode != 0 or not fingerprints:
            raise ImageError(
                "the signing key is not an armored GPG private key gpg can import; "
                "export it with gpg --armor --export-secret-keys",
                obj=self.a.ref,
                field="spec.git.commit.signingKey",
            )
        options = ["-c", f"user.signingkey={fingerprints[0]}", "-c", "commit.gpgsign=true"]
        if signing.passphrase:
            secret = keys / "passphrase"
            secret.write_text(signing.passphrase)
            secret.chmod(0o600)
            program = keys / "gpg-loopback"
            program.write_text(
                f'#!/bin/sh\nexec gpg --batch --pinentry-mode loopback --passphrase-file "{secret}" "$@"\n'
            )
            program.chmod(0o700)
            options += ["-c", f"gpg.program={program}"]
        return options

    def close(self) -> None:
        """Stop the gpg-agent a GPG signing run started for its private keyring."""
        if "GNUPGHOME" in self.env:
            subprocess.run(
                ["gpgconf", "--kill", "gpg-agent"],
                env={**os.environ, **self.env},
                capture_output=True,
                check=False,
            )

    def push(self, repo: git.Repo) -> None:
        refspecs = [f"HEAD:refs/heads/{self.push_branch}"] if self.push_branch else []
        if self.a.refspec:
            refspecs.append(self.a.refspec)
        self.call(repo, "push", "--quiet", "--porcelain", "origin", *refspecs)

    def refresh(self, repo: git.Repo) -> None:
        """After a refused push: start again from the remote tip of the branch we push to."""
        branch = self.push_branch or self.a.checkout_branch
        self.call(repo, "fetch", "--quiet", "origin", f"refs/heads/{branch}")
        self.call(repo, "reset", "--quiet", "--hard", "FETCH_HEAD")


class _GitFailure(Exception):
    def __init__(self, command: str, stderr: str, refused: bool) -> None:
        super().__init__(f"git {command}: {stderr}")
        self.rejected = command == "push" and refused


def update_and_push(
    automation: Automation,
    policies: Mapping[str, PolicyResult],
    *,
    credentials: Credentials = ANONYMOUS,
    attempts: int = 3,
) -> CommitResult:
    """Clone, set, commit and push; retry from the new remote tip on a non-fast-forward push."""
    parse(automation.message_template or "")  # a broken template fails before any Git work
    with tempfile.TemporaryDirectory(prefix="flux-image-update-") as tmp:
        run = _Run(automation, credentials, Path(tmp))
        try:
            repo = run.clone()
            try:
                attempt = 0
                while True:
                    attempt += 1
                    result, revision, message = run.commit(repo, policies)
                    if revision is None:
                        return CommitResult(result, attempts=attempt - 1)
                    try:
                        run.push(repo)
                    except _GitFailure as failure:
                        if not failure.rejected or attempt >= attempts:
                            raise
                        run.refresh(repo)
                        continue
                    return CommitResult(result, revision, message, run.push_branch or "", attempt)
            finally:
                repo.close()
                run.close()
        except _GitFailure as failure:
            raise ImageError(
                f"{failure}; check that the credentials may push to {automation.url}"
                + (f" (still refused after {attempts} attempts)" if failure.rejected else ""),
                obj=automation.ref,
                field="spec.git.push",
            ) from None
