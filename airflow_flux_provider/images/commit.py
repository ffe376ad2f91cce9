"""ImageUpdateAutomation's Git half: clone, run the setters, commit, push, retry on races.

A fresh shallow clone per run (as the controller does), the push branch checked out on
top of the remote one when it exists, and one commit only when a setter changed a byte.
Pushes go to the push branch (the checkout branch when none is set), then, if set, to
``push.refspec``, with ``push.options`` as git push options, as Flux does. When the branch
push is refused as non-fast-forward (someone else pushed meanwhile) the run fetches,
starts again from the new tip and re-applies the setters — so what gets pushed is always
the policy results on top of the latest remote state, never a force-push. All git work
goes through :class:`~airflow_flux_provider.git.remote.GitRemote`, so a token, SSH key or
CA certificate works for the push exactly as it does for the GitRepository fetch.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from airflow_flux_provider.credentials import ANONYMOUS, Credentials
from airflow_flux_provider.git.errors import GitAuthError, GitError, GitRejectedError, GitUnreachableError
from airflow_flux_provider.git.refs import RefSpec, check_branch
from airflow_flux_provider.git.remote import Blame, GitRemote, GitSession, askpass_environment
from airflow_flux_provider.images import setters
from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult
from airflow_flux_provider.images.setters import UpdateResult
from airflow_flux_provider.images.template import NamespacedName, parse, render, template_data
from airflow_flux_provider.specs.images import ImageUpdateAutomation

#: Errors about the URL or the credentials point at the GitRepository the automation names.
_BLAME = Blame(url="spec.sourceRef", credentials="spec.sourceRef")


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
    push_options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """The spec model checks these too; an Automation built in code gets the same checks."""
        try:
            check_branch(self.checkout_branch, "checkout branch")
            if self.push_branch is not None:
                check_branch(self.push_branch, "push.branch")
            if self.refspec is not None:
                RefSpec.parse(self.refspec)
        except ValueError as err:
            raise ImageError(str(err), obj=self.ref, field="spec.git") from None

    @property
    def ref(self) -> str:
        return f"ImageUpdateAutomation/{self.name.Namespace}/{self.name.Name}"

    @property
    def branch(self) -> str:
        """Where commits are made and pushed: ``push.branch``, else the checkout branch (as Flux)."""
        return self.push_branch or self.checkout_branch

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
            push_options=dict(push.options) if push else {},
        )


@dataclass
class CommitResult:
    """``revision`` is the pushed commit (None when nothing changed); ``attempts`` counts pushes."""

    result: UpdateResult
    revision: str | None = None
    message: str = ""
    branch: str = ""
    attempts: int = 0


class _Run:
    """One automation run in a private work tree, every git command through one :class:`GitSession`."""

    def __init__(self, automation: Automation, git: GitSession, workdir: Path) -> None:
        self.a, self.git, self.workdir = automation, git, workdir
        self.work = workdir / "checkout"
        self.signing: list[tuple[str, str]] = []
        self.env: dict[str, str] = {}

    def _git(self, *args: str, stdin: str | None = None) -> str:
        return self.git.run(*args, cwd=self.work, stdin=stdin, env=self.env, config=self.signing)

    def _fetch(self, branch: str) -> None:
        """The remote tip of ``branch`` into FETCH_HEAD (one commit deep)."""
        self.git.fetch(self.work / ".git", f"refs/heads/{branch}")

    def clone(self) -> None:
        """The checkout branch, and the push branch on top of its remote tip when that exists."""
        a = self.a
        self.git.run("init", "--quiet", "--end-of-options", str(self.work))
        try:
            self._fetch(a.checkout_branch)
        except GitError as err:
            plain = not isinstance(err, GitAuthError | GitUnreachableError)
            raise ImageError(
                f"cannot clone {a.url} at branch {a.checkout_branch!r}: {err.message}; "
                "check the GitRepository URL, branch and credentials",
                obj=a.ref,
                field="spec.git.checkout.ref.branch" if plain else err.field,
            ) from None
        self._git("update-ref", "--end-of-options", f"refs/heads/{a.checkout_branch}", "FETCH_HEAD")
        if a.branch != a.checkout_branch:
            start = f"refs/heads/{a.checkout_branch}"
            if self.git.ls_remote(f"refs/heads/{a.branch}"):
                self._fetch(a.branch)
                start = "FETCH_HEAD"
            self._git("update-ref", "--end-of-options", f"refs/heads/{a.branch}", start)
        self._git("symbolic-ref", "--end-of-options", "HEAD", f"refs/heads/{a.branch}")
        self._git("reset", "--quiet", "--hard")

    def commit(self, policies: Mapping[str, PolicyResult]) -> tuple[UpdateResult, str | None, str]:
        a = self.a
        result = setters.apply_setters(self.work, a.path, policies, obj=a.ref)
        if not result.changes:
            return result, None, ""
        self._git("add", "--update", "--", ".")
        if not self._git("diff", "--cached", "--name-only").strip():
            return result, None, ""
        data = template_data(a.name, result, a.template_values, legacy=a.legacy_template_data)
        message = render(a.message_template, data)
        if a.signing and not self.signing:
            self.signing = self._signing_config(a.signing)
        self.env.update(
            GIT_AUTHOR_NAME=a.author_name,
            GIT_AUTHOR_EMAIL=a.author_email,
            GIT_COMMITTER_NAME=a.author_name,
            GIT_COMMITTER_EMAIL=a.author_email,
        )
        # the message as rendered, as go-git stores it: no newline added, no whitespace stripped
        verbatim = ("--cleanup=verbatim", "--allow-empty-message")
        self._git("commit", "--quiet", "--no-verify", *verbatim, "--file=-", stdin=message)
        return result, self._git("rev-parse", "HEAD").strip(), message

    def _signing_config(self, signing: Signing) -> list[tuple[str, str]]:
        """git settings that sign with the key, imported into a private keyring once."""
        keys = self.workdir / "signing"
        keys.mkdir(mode=0o700, exist_ok=True)
        if signing.type == "ssh":
            key_file = keys / "id"
            key_file.write_text(signing.key.strip() + "\n")
            key_file.chmod(0o600)
            if signing.passphrase:
                self.env.update(askpass_environment(keys, signing.passphrase))
            return [("gpg.format", "ssh"), ("user.signingkey", str(key_file)), ("commit.gpgsign", "true")]
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
        config = [("user.signingkey", fingerprints[0]), ("commit.gpgsign", "true")]
        if signing.passphrase:
            secret = keys / "passphrase"
            secret.write_text(signing.passphrase)
            secret.chmod(0o600)
            program = keys / "gpg-loopback"
            program.write_text(
                f'#!/bin/sh\nexec gpg --batch --pinentry-mode loopback --passphrase-file "{secret}" "$@"\n'
            )
            program.chmod(0o700)
            config.append(("gpg.program", str(program)))
        return config

    def close(self) -> None:
        """Stop the gpg-agent a GPG signing run started for its private keyring."""
        if "GNUPGHOME" in self.env:
            subprocess.run(
                ["gpgconf", "--kill", "gpg-agent"],
                env={**os.environ, "GNUPGHOME": self.env["GNUPGHOME"]},
                capture_output=True,
                check=False,
            )

    def push_branch(self) -> None:
        self.git.push(self.work, [RefSpec("HEAD", f"refs/heads/{self.a.branch}")], self.a.push_options)

    def push_refspec(self) -> None:
        if self.a.refspec:
            self.git.push(self.work, [RefSpec.parse(self.a.refspec)], self.a.push_options)

    def refresh(self) -> None:
        """After a refused push: start again from the remote tip of the branch we push to."""
        self._fetch(self.a.branch)
        self._git("reset", "--quiet", "--hard", "FETCH_HEAD")


def update_and_push(
    automation: Automation,
    policies: Mapping[str, PolicyResult],
    *,
    credentials: Credentials = ANONYMOUS,
    attempts: int = 3,
) -> CommitResult:
    """Clone, set, commit and push; retry from the new remote tip on a non-fast-forward push."""
    parse(automation.message_template or "")  # a broken template fails before any Git work
    remote = GitRemote(automation.url, obj=automation.ref, credentials=credentials, blame=_BLAME)
    with tempfile.TemporaryDirectory(prefix="flux-image-update-") as tmp, remote.connect() as git:
        run = _Run(automation, git, Path(tmp))
        try:
            run.clone()
            attempt = 0
            while True:
                attempt += 1
                result, revision, message = run.commit(policies)
                if revision is None:
                    return CommitResult(result, attempts=attempt - 1)
                try:
                    run.push_branch()
                except GitRejectedError as rejected:
                    if not rejected.race or attempt >= attempts:
                        raise
                    run.refresh()
                    continue
                run.push_refspec()
                return CommitResult(result, revision, message, automation.branch, attempt)
        except GitError as err:
            retried = (
                f" (still refused after {attempts} attempts)" if isinstance(err, GitRejectedError) else ""
            )
            raise ImageError(
                f"{err.message}; check that the credentials may push to {automation.url}{retried}",
                obj=automation.ref,
                field=err.field if isinstance(err, GitAuthError | GitUnreachableError) else "spec.git.push",
            ) from None
        finally:
            run.close()
