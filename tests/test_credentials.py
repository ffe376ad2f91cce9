"""Secrets stay secret: CA bundles in a private folder (issue 16, finding 7) and every
credential-bearing part of a URL redacted wherever a message shows it (finding 9)."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_flux_provider import credentials
from airflow_flux_provider.credentials import ca_bundle, redact_url, redact_urls
from airflow_flux_provider.errors import FluxError
from airflow_flux_provider.notifications.errors import NotificationError
from airflow_flux_provider.notifications.http import Transport, post_json, secret_parts

PEM = "-----BEGIN CERTIFICATE-----\nMIIBtrusted\n-----END CERTIFICATE-----\n"
EVIL = "-----BEGIN CERTIFICATE-----\nMIIBattacker\n-----END CERTIFICATE-----\n"


@pytest.fixture
def tmpdir_of_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A /tmp of our own, and no CA folder remembered from earlier calls."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    credentials.private_folder.cache_clear()
    yield tmp_path
    credentials.private_folder.cache_clear()


def _planted(tmp: Path) -> Path:
    folder = tmp / f"airflow-flux-ca-{os.getuid()}"
    folder.mkdir(mode=0o777)
    (folder / f"{hashlib.sha256(PEM.encode()).hexdigest()}.pem").write_text(EVIL)
    return folder


def test_ca_bundle_lives_in_a_private_folder(tmpdir_of_machine: Path) -> None:
    path = Path(ca_bundle(PEM))
    assert path.read_text() == PEM and ca_bundle(PEM) == str(path)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("how", ["world-writable", "other-owner", "symlink"])
def test_a_planted_ca_folder_is_never_trusted(tmpdir_of_machine: Path, how: str) -> None:
    if how == "symlink":
        target = tmpdir_of_machine / "attacker"
        target.mkdir(mode=0o700)
        (target / f"{hashlib.sha256(PEM.encode()).hexdigest()}.pem").write_text(EVIL)
        (tmpdir_of_machine / f"airflow-flux-ca-{os.getuid()}").symlink_to(target)
    else:
        folder = _planted(tmpdir_of_machine)
        if how == "other-owner":
            folder.chmod(0o700)
            os.chown(folder, 4242, 4242)  # the tests run as root, as CI does
    path = Path(ca_bundle(PEM))
    assert path.read_text() == PEM
    assert path.parent.name != f"airflow-flux-ca-{os.getuid()}"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_bundle_with_other_content_is_replaced(tmpdir_of_machine: Path) -> None:
    path = Path(ca_bundle(PEM))
    path.write_text(EVIL)
    assert Path(ca_bundle(PEM)).read_text() == PEM


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://x-access-token:ghp_SECRET@github.com/org/app.git", "https://***@github.com/org/app.git"),
        ("https://ghp_SECRET@github.com/org/app.git", "https://***@github.com/org/app.git"),
        ("ssh://git@github.com:22/org/app.git", "ssh://git@github.com:22/org/app.git"),
        (
            "https://acme.webhook.office.com/webhookb2/x/IncomingWebhook/y?sig=SECRET&api-version=1",
            "https://acme.webhook.office.com/webhookb2/x/IncomingWebhook/y?sig=***&api-version=***",
        ),
        ("https://hooks.example.com/hook?token=SECRET", "https://hooks.example.com/hook?token=***"),
        ("https://idp.example.com/cb#access_token=SECRET", "https://idp.example.com/cb#***"),
        ("https://idp.example.com/cb#SECRET0token", "https://idp.example.com/cb#***"),
        (
            "https://fluxcd.io/flux/components/#message-template",
            "https://fluxcd.io/flux/components/#message-template",
        ),
        (
            "https://b.s3.amazonaws.com/c.tgz?X-Amz-Credential=SECRET&X-Amz-Signature=SECRET",
            "https://b.s3.amazonaws.com/c.tgz?X-Amz-Credential=***&X-Amz-Signature=***",
        ),
        ("https://[::1]:8443/api", "https://[::1]:8443/api"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
    assert "SECRET" not in redact_url(url, keep_path=False)


def test_redact_urls_in_free_text() -> None:
    text = (
        "push to https://user:SECRET@git.example.com/a.git failed; "
        "HTTPSConnectionPool(host='h', port=443): url: /hook?sig=SECRET&x=1 (Caused by x); "
        "scp-like deploy:SECRET@git.example.com:org/a.git. " + "a" * 100_000
    )
    out = redact_urls(text)
    assert "SECRET" not in out
    assert "https://***@git.example.com/a.git failed;" in out  # sentence punctuation kept outside


@pytest.mark.timeout(60)
def test_redaction_is_linear_on_hostile_messages() -> None:
    """Every FluxError passes through redact_urls: a quoted value of colons took `re` 8 s at 40 KB."""
    assert redact_urls("a:" * 200_000) == "a:" * 200_000  # nothing to redact, found out in linear time
    assert redact_urls("?sig=" * 100_000) == "?sig=***"
    assert redact_urls("u:p@" * 100_000).startswith("***@")
    assert redact_urls("x://" * 100_000).startswith("x://")


def test_every_flux_error_redacts_urls_whoever_raised_it() -> None:
    err = FluxError("cannot fetch https://charts.example.com/app.tgz?sig=SECRET", obj="HelmChart/ns/app")
    assert "SECRET" not in str(err) and "SECRET" not in err.message
    assert "https://charts.example.com/app.tgz?sig=***" in str(err)


def test_a_teams_signature_never_reaches_a_notification_error() -> None:
    """requests names only the path and query of a failed URL: the path was scrubbed, the sig not."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/webhookb2/tenant/IncomingWebhook/id?sig=TEAMSSECRET"
    transport = Transport(timeout=5, retries=0, secrets=secret_parts(url))
    with pytest.raises(NotificationError) as info:
        post_json(url, b"{}", transport, obj="Provider/flux-system/teams")
    assert "TEAMSSECRET" not in str(info.value)
    assert "sig=***" in str(info.value)
