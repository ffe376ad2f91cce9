"""Scan -> policy -> setters -> commit -> push against the real registry and Git server."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.images import commit as commit_module
from airflow_flux_provider.images.commit import Automation, Signing, update_and_push
from airflow_flux_provider.images.errors import ImageError
from airflow_flux_provider.images.policy import PolicyResult, TagPolicy
from airflow_flux_provider.images.registry import scan
from airflow_flux_provider.images.template import NamespacedName
from airflow_flux_provider.tools import kubectl_path
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.git_ssh import GitSSHServer
from flux_devkit.services.registry import OciRegistry
from tests.seed import image_automation_parts

TEMPLATE, DEPLOYMENT = image_automation_parts()
OVERLAY = "apps/ml-training/overlays/production"
NAME = NamespacedName("flux-system", "ml-training")


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _repo(git_server: GitServer, name: str) -> str:
    return git_server.create_repo(
        name,
        {
            f"{OVERLAY}/deployment.yaml": DEPLOYMENT,
            f"{OVERLAY}/kustomization.yaml": "resources:\n- deployment.yaml\n",
            "README.md": "gitops\n",
        },
    )


def _automation(url: str, **overrides: Any) -> Automation:
    fields: dict[str, Any] = {
        "name": NAME,
        "url": url,
        "path": f"./{OVERLAY}",
        "author_name": "Flux CD Bot",
        "author_email": "fluxcdbot@company.com",
        "message_template": TEMPLATE,
        "legacy_template_data": True,
    }
    return Automation(**{**fields, **overrides})


def _clone(git_server: GitServer, name: str, dest: Path, branch: str = "main") -> Path:
    _git("clone", "--quiet", "--branch", branch, git_server.auth_url(name), str(dest))
    return dest


def _creds(git_server: GitServer) -> Credentials:
    return Credentials(username=git_server.username, password=git_server.password)


def test_scan_policy_commit_push(oci_registry: OciRegistry, git_server: GitServer, tmp_path: Path) -> None:
    for tag in ("v1.0.0", "v1.3.0", "v2.0.0", "v1.4.0-rc.1", "sha256-00.sig"):
        oci_registry.push_image("e2e/ml-training", tag)
    image = f"{oci_registry.host}/e2e/ml-training"
    creds = Credentials(username=oci_registry.username, password=oci_registry.password)
    tags = scan(image, credentials=creds, insecure=True).tags
    tag = TagPolicy("semver", semver_range="1.x.x").latest(tags)
    assert tag == "v1.3.0"

    url = _repo(git_server, "images-e2e")
    done = update_and_push(
        _automation(url),
        {"flux-system:ml-training": PolicyResult(image, tag)},
        credentials=_creds(git_server),
    )
    assert done.revision and done.attempts == 1 and done.branch == "main"

    work = _clone(git_server, "images-e2e", tmp_path / "clone")
    assert _git("rev-parse", "HEAD", cwd=work).strip() == done.revision
    new = (work / OVERLAY / "deployment.yaml").read_text()
    assert new == DEPLOYMENT.replace("ghcr.io/company/ml-training:v1.0.0", f"{image}:v1.3.0")
    assert _git("log", "-1", "--format=%an <%ae>", cwd=work).strip() == "Flux CD Bot <fluxcdbot@company.com>"
    assert _git("log", "-1", "--format=%B", cwd=work) == (
        "Update ML training image\n\nAutomation name: flux-system/ml-training\n\n"
        f"Files:\n- deployment.yaml\nImages:\n- {image}:v1.3.0\n\n"
    )
    rendered = subprocess.run(
        [kubectl_path(), "kustomize", str(work / OVERLAY)], check=True, capture_output=True, text=True
    ).stdout
    assert f"image: {image}:v1.3.0" in rendered

    again = update_and_push(
        _automation(url),
        {"flux-system:ml-training": PolicyResult(image, tag)},
        credentials=_creds(git_server),
    )
    assert again.revision is None and again.result.changes == []
    assert _git("ls-remote", git_server.auth_url("images-e2e"), "refs/heads/main").split()[0] == done.revision


def test_concurrent_push_is_rebased_not_forced(
    git_server: GitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _repo(git_server, "images-race")
    real = commit_module.setters.apply_setters
    calls: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # another writer pushes between our clone and our push
            git_server.commit("images-race", {"docs/other.md": "someone else\n"}, message="concurrent change")
        return real(*args, **kwargs)

    monkeypatch.setattr(commit_module.setters, "apply_setters", racing)
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.9.0")}
    done = update_and_push(_automation(url), policies, credentials=_creds(git_server))
    assert done.attempts == 2 and len(calls) == 2
    work = _clone(git_server, "images-race", tmp_path / "clone")
    assert _git("log", "--format=%s", cwd=work).splitlines()[:2] == [
        "Update ML training image",
        "concurrent change",
    ]
    assert (work / "docs/other.md").exists()
    assert "ghcr.io/company/ml-training:v1.9.0" in (work / OVERLAY / "deployment.yaml").read_text()


def test_push_branch_and_ssh_signing(git_server: GitServer, tmp_path: Path) -> None:
    url = _repo(git_server, "images-branch")
    key = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    automation = _automation(
        url, push_branch="image-updates", message_template=None, signing=Signing(key.read_text(), "ssh")
    )
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.1.0")}
    done = update_and_push(automation, policies, credentials=_creds(git_server))
    assert done.branch == "image-updates" and done.message == "Update from image update automation"
    work = _clone(git_server, "images-branch", tmp_path / "clone", branch="image-updates")
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in _git("cat-file", "commit", "HEAD", cwd=work)
    main = _clone(git_server, "images-branch", tmp_path / "main")
    assert "v1.0.0" in (main / OVERLAY / "deployment.yaml").read_text()
    # a second run builds on the existing push branch instead of starting from main again
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.2.0")}
    second = update_and_push(automation, policies, credentials=_creds(git_server))
    _git("pull", "--quiet", cwd=work)
    assert _git("rev-parse", "HEAD", "HEAD~1", cwd=work).split() == [second.revision, done.revision]


def test_git_failures_are_clear(git_server: GitServer) -> None:
    url = _repo(git_server, "images-fail")
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.1.0")}
    wrong = Credentials(username=git_server.username, password="wrong-password")
    with pytest.raises(ImageError) as info:
        update_and_push(_automation(url), policies, credentials=wrong)
    assert "cannot clone" in str(info.value) and "wrong-password" not in str(info.value)
    with pytest.raises(ImageError, match=r"cannot clone .* branch 'nope'"):
        update_and_push(_automation(url, checkout_branch="nope"), policies, credentials=_creds(git_server))
    with pytest.raises(ImageError, match="messageTemplate"):
        update_and_push(
            _automation(url, message_template="{{ .Oops "), policies, credentials=_creds(git_server)
        )


def test_gpg_signing_with_a_passphrase(git_server: GitServer, tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "pw"]
    subprocess.run(
        [*gpg, "--quick-gen-key", "Flux Bot <bot@example.com>", "ed25519", "sign", "never"],
        env=env,
        check=True,
        capture_output=True,
    )
    key = subprocess.run(
        [*gpg, "--armor", "--export-secret-keys"], env=env, check=True, capture_output=True
    ).stdout
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)
    url = _repo(git_server, "images-gpg")
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.1.0")}
    automation = _automation(url, signing=Signing(key.decode(), "gpg", "pw"))
    done = update_and_push(automation, policies, credentials=_creds(git_server))
    work = _clone(git_server, "images-gpg", tmp_path / "clone")
    assert _git("rev-parse", "HEAD", cwd=work).strip() == done.revision
    assert "gpgsig -----BEGIN PGP SIGNATURE-----" in _git("cat-file", "commit", "HEAD", cwd=work)
    with pytest.raises(ImageError, match="not an armored GPG private key"):
        update_and_push(
            _automation(url, signing=Signing("garbage", "gpg")),
            {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.2.0")},
            credentials=_creds(git_server),
        )


def test_push_refspec_also_pushes_the_checkout_branch(git_server: GitServer) -> None:
    """As Flux: a refspec without push.branch pushes the checkout branch, then the refspec."""
    url = _repo(git_server, "images-refspec")
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.5.0")}
    done = update_and_push(
        _automation(url, refspec="HEAD:refs/heads/auto/review"), policies, credentials=_creds(git_server)
    )
    remote = _git("ls-remote", git_server.auth_url("images-refspec"))
    heads = dict(line.split("\t")[::-1] for line in remote.splitlines())
    assert done.branch == "main"
    assert heads["refs/heads/auto/review"] == heads["refs/heads/main"] == done.revision


def test_refspec_option_injection_is_refused_before_git_runs(git_server: GitServer, tmp_path: Path) -> None:
    """Issue 16 finding 1: on a file:// remote git would run --receive-pack's command."""
    _repo(git_server, "images-inject")
    url = git_server.repo_path("images-inject").as_uri()
    marker = tmp_path / "pwned"
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.6.0")}
    for refspec in (f"--receive-pack=touch {marker}", "--dry-run"):
        with pytest.raises(ImageError, match="starts with '-'") as info:
            update_and_push(_automation(url, refspec=refspec), policies)
        assert info.value.field == "spec.git"
    assert not marker.exists()
    assert "v1.0.0" in _git(
        "show", "main:" + f"{OVERLAY}/deployment.yaml", cwd=git_server.repo_path("images-inject")
    )


def test_push_with_a_bearer_token_over_https(git_server_tls: GitServer, tmp_path: Path) -> None:
    """The connection's token and CA work for the push as for the fetch (they used to be dropped)."""
    assert git_server_tls.tls is not None and git_server_tls.token is not None
    url = _repo(git_server_tls, "images-token")
    creds = Credentials(token=git_server_tls.token, ca_cert=git_server_tls.tls.ca_path.read_text())
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.7.0")}
    done = update_and_push(_automation(url), policies, credentials=creds)
    bare = git_server_tls.repo_path("images-token")
    assert _git("rev-parse", "refs/heads/main", cwd=bare).strip() == done.revision
    pushes = [r for r in git_server_tls.seen if r.path == "/images-token.git/git-receive-pack"]
    assert pushes and all(r.authorization == f"Bearer {git_server_tls.token}" for r in pushes)
    with pytest.raises(ImageError, match="CA certificate") as info:
        update_and_push(_automation(url), policies, credentials=Credentials(token=git_server_tls.token))
    assert git_server_tls.token not in str(info.value)


def test_push_over_ssh_signed_with_a_passphrase_key_and_push_options(
    git_server: GitServer, git_ssh_server: GitSSHServer, tmp_path: Path
) -> None:
    _repo(git_server, "images-ssh")
    bare = git_server.repo_path("images-ssh")
    _git("config", "receive.advertisePushOptions", "true", cwd=bare)
    received = tmp_path / "push-options"
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        '#!/bin/sh\ni=0\nwhile [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do\n'
        f'  eval "echo \\$GIT_PUSH_OPTION_$i" >> {received}\n  i=$((i + 1))\ndone\n'
    )
    hook.chmod(0o755)
    creds = Credentials(
        ssh_private_key=git_ssh_server.client_key,
        ssh_passphrase=git_ssh_server.key_passphrase,
        known_hosts=git_ssh_server.known_hosts,
    )
    signing_key = tmp_path / "signing"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "sign-pass", "-f", str(signing_key)], check=True
    )
    automation = _automation(
        git_ssh_server.url("images-ssh"),
        push_branch="auto",
        push_options={"merge_request.create": "", "merge_request.target": "main"},
        signing=Signing(signing_key.read_text(), "ssh", "sign-pass"),
    )
    policies = {"flux-system:ml-training": PolicyResult("ghcr.io/company/ml-training", "v1.8.0")}
    done = update_and_push(automation, policies, credentials=creds)
    assert _git("rev-parse", "refs/heads/auto", cwd=bare).strip() == done.revision
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in _git("cat-file", "commit", "refs/heads/auto", cwd=bare)
    assert received.read_text().splitlines() == ["merge_request.create", "merge_request.target=main"]
