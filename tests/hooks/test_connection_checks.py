"""The connection forms' "Test" button: every connection type reaches its real service.

``Connection.test_connection()`` is what Airflow's API server runs for the button: it builds the
type's hook and calls ``test_connection()``. Each check does what a task would do first (git
ls-remote, a registry ping and tag list, a Helm index, a bucket list, MLflow's health and an
API read, a notification address answering) and says what it found; a wrong secret is a
failure that names what to fix and never shows the secret.
"""

from __future__ import annotations

import json
import secrets

import pytest
from airflow.models.connection import Connection

from flux_devkit.services.chart_repo import ChartRepository
from flux_devkit.services.git_http import GitServer
from flux_devkit.services.mlflow_server import MlflowServer
from flux_devkit.services.registry import OciRegistry
from flux_devkit.services.s3 import S3Server


def test_connection(conn_type: str, **fields: object) -> tuple[bool, str]:
    extra = fields.pop("extra", None)
    conn = Connection(
        conn_id=f"check_{secrets.token_hex(4)}",
        conn_type=conn_type,
        extra=json.dumps(extra) if extra else None,
        **fields,  # type: ignore[arg-type]
    )
    # The API server puts the connection under a transient id in the environment, then asks it.
    with pytest.MonkeyPatch.context() as env:
        env.setenv(f"AIRFLOW_CONN_{conn.conn_id.upper()}", conn.get_uri())
        return conn.test_connection()


test_connection.__test__ = False  # type: ignore[attr-defined]


def test_git_ls_remote_with_the_connection_credentials(git_server: GitServer):
    url = git_server.create_repo("connection-check", {"README.md": "hi\n"})
    head = git_server.commit("connection-check", {"a.txt": "a\n"})
    ok, message = test_connection(
        "flux_git", host=url, login=git_server.username, password=git_server.password
    )
    assert ok, message
    assert message == f"git ls-remote {url}: HEAD at {head[:12]}"

    ok, message = test_connection("flux_git", host=url, login=git_server.username, password="wrong-pass-42")
    assert not ok
    assert "the remote refused access" in message and "wrong-pass-42" not in message


def test_a_form_without_the_address_says_what_to_fill_in():
    ok, message = test_connection("flux_git", login="bot", password="pw")
    assert not ok and "set the host to check, e.g. https://" in message


def test_registry_ping_and_tag_list(oci_registry: OciRegistry):
    oci_registry.push_image("checks/app", "1.0.0")
    oci_registry.push_image("checks/app", "1.1.0")
    creds = {"login": oci_registry.username, "password": oci_registry.password, "extra": {"insecure": True}}
    ok, message = test_connection("flux_registry", host=oci_registry.host, **creds)
    assert (ok, message) == (True, f"{oci_registry.host} answered /v2/ and accepted the credentials")
    ok, message = test_connection("flux_registry", host=f"{oci_registry.host}/checks/app", **creds)
    assert (ok, message) == (True, f"{oci_registry.host}/checks/app lists 2 tag(s)")

    wrong = {**creds, "password": "not-the-password"}
    ok, message = test_connection("flux_registry", host=oci_registry.host, **wrong)
    assert not ok and "refused" in message and "not-the-password" not in message
    ok, message = test_connection("flux_registry", host="-oops", **creds)
    assert not ok and "is not a host[:port]" in message


def test_helm_repository_index(chart_repo: ChartRepository):
    chart_repo.add_chart("connection-check", "0.1.0")
    ok, message = test_connection("flux_helm", host=chart_repo.url)
    charts = len(chart_repo.index()["entries"])
    assert (ok, message) == (True, f"{chart_repo.url}/index.yaml lists {charts} chart(s)")

    ok, message = test_connection("flux_helm", host=f"{chart_repo.url}/nowhere")
    assert not ok and "index.yaml" in message


def test_bucket_list_with_the_keys(s3_server: S3Server):
    s3_server.create_bucket("connection-check")
    endpoint = s3_server.endpoint.removeprefix("http://")
    keys = {"login": s3_server.access_key, "password": s3_server.secret_key, "extra": {"insecure": True}}
    ok, message = test_connection("flux_bucket", host=endpoint, **keys)
    names = sorted(b["Name"] for b in s3_server.client().list_buckets()["Buckets"])  # others' too
    assert "connection-check" in names
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    assert ok and message == f"{endpoint} lists {len(names)} bucket(s): {shown}"

    ok, message = test_connection("flux_bucket", host=endpoint, **{**keys, "password": "wrong-secret-7"})
    assert not ok and "check the access key and secret key" in message and "wrong-secret-7" not in message


def test_mlflow_health_and_an_api_read(mlflow_server: MlflowServer):
    ok, message = test_connection("flux_mlflow", host=mlflow_server.tracking_uri)
    assert (ok, message) == (
        True,
        f"{mlflow_server.tracking_uri} is healthy and answers experiment searches with these credentials",
    )
    ok, message = test_connection("flux_mlflow", host="http://127.0.0.1:9")
    assert not ok and "cannot reach http://127.0.0.1:9" in message


def test_a_notification_address_is_reached_without_sending_anything(mlflow_server: MlflowServer):
    hook = f"{mlflow_server.tracking_uri}/hooks/T000/B000/secret-path-123"
    ok, message = test_connection("flux_notification", host=hook, password="xoxb-token-1")
    assert ok and "answered HTTP 404; no message was sent" in message
    assert "secret-path-123" not in message and "xoxb-token-1" not in message

    ok, message = test_connection("flux_notification", host="ftp://example.invalid/x")
    assert not ok and "must be an http(s) URL" in message
