"""The standing bad-input corpus (issue 16): hundreds of hostile or broken inputs at every entry
point, each giving one clear error that names the object, the field and the fix, with no
traceback, nothing written and no secret in the message.

Categories: Flux/Flagger specs (field edits and whole documents), kustomize trees, archives,
registry and Helm repository answers, webhook requests, API server requests, Airflow
connection fields. ``python -m tests.hostile.test_corpus`` prints the count per category.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_flux_provider.credentials import Credentials
from airflow_flux_provider.kustomize import KustomizeError, RenderStore, render
from airflow_flux_provider.oci.client import RegistryClient
from airflow_flux_provider.oci.errors import RegistryError
from airflow_flux_provider.oci.reference import ImageReference
from airflow_flux_provider.receivers import WebhookReceiver, WebhookRejected
from airflow_flux_provider.sources.artifacts import ArtifactStore
from airflow_flux_provider.sources.errors import SourceError
from airflow_flux_provider.sources.helm import HelmRepositorySource
from airflow_flux_provider.specs import SpecError, load_manifests, parse_object
from flux_devkit.sandbox import Sandbox
from tests.hostile.checks import assert_clean
from tests.hostile.specs import SECRET, field_edit_cases
from tests.kustomize.conftest import kustomization, write_tree
from tests.sandbox.test_hardening import _ca, _exchange, _port, _request

pytestmark = pytest.mark.timeout(120)

# -- Flux/Flagger specs: one hostile value per field --------------------------------------------------

SPEC_CASES = list(field_edit_cases())


@pytest.mark.parametrize(("field", "manifest"), [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
def test_spec_fields(field: str, manifest: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as info:
        parse_object(manifest)
    named = field.split(".", 1)[1] if field.startswith("spec.") else field
    assert_clean(info.value, obj=f"{manifest['kind']}/flux-system/", field=named, secrets=[SECRET])


# -- Flux/Flagger specs: whole documents ---------------------------------------------------------------

_GOOD = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: app, namespace: ns}\n"
_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
DOCUMENTS: dict[str, str | bytes] = {
    "python-object-tag": _GOOD + "spec: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "python-name-tag": _GOOD + "spec: !!python/name:os.system\n",
    "alias-bomb": _GOOD
    + "spec:\n  interval: 1m\n  url: https://x/y\n"
    + "".join("  " + line + "\n" for line in _BOMB.splitlines()),
    "deep-nesting": _GOOD + "spec: " + "[" * 5000 + "]" * 5000 + "\n",
    "not-utf8": _GOOD.encode() + b'spec: {url: "\xff\xfe"}\n',
    "tab-indent": _GOOD + "spec:\n\tinterval: 1m\n",
    "top-level-list": "- apiVersion: v1\n  kind: GitRepository\n",
    "top-level-scalar": "just a string\n",
    "unknown-kind": _GOOD.replace("GitRepository", "GitRepo") + "spec: {}\n",
    "unknown-group": _GOOD.replace("source.toolkit", "sources.toolkit") + "spec: {}\n",
    "no-kind": "apiVersion: source.toolkit.fluxcd.io/v1\nmetadata: {name: a}\n",
    "no-metadata": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nspec: {}\n",
    "metadata-list": _GOOD.replace("metadata: {name: app, namespace: ns}", "metadata: [1]") + "spec: {}\n",
    "spec-scalar": _GOOD + "spec: 42\n",
    "unclosed-quote": _GOOD + 'spec: {url: "https://x}\n',
    "second-doc-broken": _GOOD
    + "spec: {interval: 1m, url: https://x/y}\n---\n"
    + _GOOD
    + "spec: {interval: 1d}\n",
    "secret-in-url": _GOOD + f"spec: {{interval: 1m, url: 'deploy:{SECRET}@github.com:org/app.git'}}\n",
    "huge-name": _GOOD.replace("name: app", "name: " + "a" * 100_000) + "spec: {}\n",
    "merge-key-bomb": _GOOD + "spec:\n  <<: {interval: 1d}\n  url: https://x/y\n",
}


@pytest.mark.parametrize("text", list(DOCUMENTS.values()), ids=list(DOCUMENTS))
def test_spec_documents(text: str | bytes, tmp_path: Path) -> None:
    path = tmp_path / "objects.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SpecError) as info:
        load_manifests(path)
    assert_clean(info.value, obj=None, secrets=[SECRET])
    assert str(path) in str(info.value)  # which file
    assert not Path("/tmp/pwned").exists()


# -- kustomize trees -----------------------------------------------------------------------------------

_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
TREES: dict[str, tuple[dict[str, str | bytes], dict[str, Any]]] = {
    "absolute-resource": ({"app/kustomization.yaml": "resources: [/etc/passwd]\n"}, {}),
    "parent-escape": ({"app/kustomization.yaml": "resources: [../../../../etc]\n"}, {}),
    "remote-base": ({"app/kustomization.yaml": "resources: [https://github.com/org/repo//base]\n"}, {}),
    "exec-plugin": (
        {
            "app/kustomization.yaml": "generators: [gen.yaml]\n",
            "app/gen.yaml": "apiVersion: x/v1\nkind: Exec\nmetadata:\n  name: g\n  annotations:\n"
            "    config.kubernetes.io/function: |\n      exec: {path: /bin/sh}\n",
        },
        {},
    ),
    "helm-chart-inflation": (
        {"app/kustomization.yaml": "helmCharts: [{name: x, repo: https://c.example.com}]\n"},
        {},
    ),
    "path-escape": (
        {"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": _CM},
        {"path": "../../.."},
    ),
    "missing-path": ({"app/kustomization.yaml": "resources: []\n"}, {"path": "./nowhere"}),
    "invalid-yaml": (
        {"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": "a: [unclosed\n"},
        {},
    ),
    "not-utf8": ({"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": b"\xff\xfe\x00bad"}, {}),
    "strict-missing-var": (
        {"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": _CM.replace("b}", "${NOPE}}")},
        {"postBuild": {"substitute": {"X": "1"}}},
    ),
    "bad-substitution": (
        {"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": _CM.replace("b}", "${X:}")},
        {"postBuild": {"substitute": {"X": "1"}}},
    ),
    "unknown-field": (
        {"app/kustomization.yaml": "resources: [cm.yaml]\nexecutables: [rm]\n", "app/cm.yaml": _CM},
        {},
    ),
    "self-cycle": ({"app/kustomization.yaml": "resources: [.]\n"}, {}),
    "alias-bomb-resource": (
        {"app/kustomization.yaml": "resources: [cm.yaml]\n", "app/cm.yaml": _CM + _BOMB},
        {},
    ),
    "patch-not-yaml": (
        {"app/kustomization.yaml": "resources: [cm.yaml]\npatches: [{patch: '{['}]\n", "app/cm.yaml": _CM},
        {},
    ),
}


@pytest.mark.parametrize(("files", "spec"), list(TREES.values()), ids=list(TREES))
def test_kustomize_trees(files: dict[str, str | bytes], spec: dict[str, Any], tmp_path: Path) -> None:
    source = write_tree(tmp_path / "source", files)
    store = RenderStore(tmp_path / "store")
    with pytest.raises(KustomizeError) as info:
        render(kustomization(str(spec.pop("path", "./app")), **spec), source, store=store)
    assert_clean(info.value, obj="Kustomization/flux-system/app")
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.yaml"))


# -- archives --------------------------------------------------------------------------------------------


def _tar(*entries: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info in entries:
            if info.isreg():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


ARCHIVES: dict[str, bytes] = {
    **{
        f"name:{n!r}"[:60]: _tar(_entry(n))
        for n in [
            "../x",
            "a/../../x",
            "/abs",
            "/",
            "x" * 300,
            "a/" * 600 + "f",
            "..",
            "./../x",
            "a/b/../../../x",
        ]
    },
    **{
        f"link:{t!r}": _tar(_entry("l", tarfile.SYMTYPE, t))
        for t in ["/etc/passwd", "../x", "a/../../x", "/"]
    },
    **{f"hardlink:{t!r}": _tar(_entry("h", tarfile.LNKTYPE, t)) for t in ["/etc/passwd", "../x", "../../x"]},
    "char-device": _tar(_entry("c", tarfile.CHRTYPE)),
    "block-device": _tar(_entry("b", tarfile.BLKTYPE)),
    "fifo": _tar(_entry("f", tarfile.FIFOTYPE)),
    "file-then-folder": _tar(_entry("a"), _entry("a/b")),
    "empty": b"",
    "not-gzip": b"plain text, not an archive",
    "truncated-gzip": _tar(_entry("a"))[:20],
    "gzip-bomb": _tar(_entry("zeros"), data=b"\0" * 3_000_000),
}


@pytest.mark.parametrize("data", list(ARCHIVES.values()), ids=list(ARCHIVES))
def test_archives(data: bytes, tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"), max_extracted=1_000_000)
    artifact = store.put_bytes(data, source="OCIRepository/ns/app", revision="r", suffix=".tar.gz")
    from airflow_flux_provider.sources import archive

    limits = archive.Limits(max_bytes=1_000_000, max_entries=100)
    with pytest.raises(SourceError) as info:
        archive.unpack(
            store.get(artifact.digest),
            tmp_path / "out" / "dest",
            limit=1_000_000,
            obj=artifact.source,
            limits=limits,
        )
    assert_clean(info.value, obj="OCIRepository/ns/app")
    with pytest.raises(SourceError):  # and through the store, which keeps nothing on failure
        store.extract(artifact, tmp_path / "out2" / "dest")
    assert not (tmp_path / "out2" / "dest").exists() and list((tmp_path / "out2").iterdir()) == []
    assert not (tmp_path / "x").exists() and not (tmp_path / "out" / "x").exists()


# -- registry and Helm repository answers -------------------------------------------------------------------

ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "index-not-yaml": (200, {}, b"<html>{{ not yaml"),
    "index-no-api-version": (200, {}, b"entries: {}\n"),
    "index-entries-list": (200, {}, b"apiVersion: v1\nentries: [1, 2]\n"),
    "index-scalar": (200, {}, b"42\n"),
    "index-python-tag": (
        200,
        {},
        b"apiVersion: v1\nentries: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    ),
    "index-huge": (200, {}, b"apiVersion: v1\n" + b"#" * 3_000_000),
    "index-500": (500, {}, b"oops"),
    "index-401": (401, {"WWW-Authenticate": 'Basic realm="x"'}, b""),
    "index-404": (404, {}, b""),
    "index-redirect-elsewhere": (302, {"Location": "http://127.0.0.2:1/index.yaml"}, b""),
    "tags-not-json": (200, {"Content-Type": "application/json"}, b"<html>"),
    "tags-deep": (200, {"Content-Type": "application/json"}, b'{"tags":' + b"[" * 5000 + b"]" * 5000 + b"}"),
    "tags-500": (500, {}, b""),
    "tags-403": (403, {}, b'{"errors":[{"code":"DENIED"}]}'),
    "tags-404": (404, {}, b'{"errors":[{"code":"NAME_UNKNOWN"}]}'),
    "tags-bad-challenge": (401, {"WWW-Authenticate": 'Bearer realm="ftp://evil",service=x'}, b""),
    "tags-challenge-no-realm": (401, {"WWW-Authenticate": "Bearer"}, b""),
}


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        name = (
            self.path.strip("/").split("/")[0]
            if not self.path.startswith("/v2/")
            else self.path.split("/")[2]
        )
        code, headers, body = ANSWERS.get(name, (404, {}, b""))
        self.send_response(code)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def answers() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("name", [n for n in ANSWERS if n.startswith("index-")])
def test_helm_repository_answers(name: str, answers: str, tmp_path: Path) -> None:
    creds = Credentials(username="u", password=SECRET)
    source = HelmRepositorySource(
        f"http://{answers}/{name}", obj="HelmRepository/ns/charts", credentials=creds, timeout=5
    )
    store = ArtifactStore(str(tmp_path / "store"), max_size=1_000_000)
    with pytest.raises(SourceError) as info:
        source.fetch_index(store)
    assert_clean(info.value, obj="HelmRepository/ns/charts", secrets=[SECRET])
    assert store.latest("HelmRepository/ns/charts") is None
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("name", [n for n in ANSWERS if n.startswith("tags-")])
def test_registry_answers(name: str, answers: str) -> None:
    creds = Credentials(username="u", password=SECRET)
    with (
        RegistryClient(creds, insecure=True, timeout=5, obj="ImageRepository/ns/app") as client,
        pytest.raises(RegistryError) as info,
    ):
        client.list_tags(ImageReference.parse(f"{answers}/{name}/app"))
    assert_clean(info.value, obj="ImageRepository/ns/app", secrets=[SECRET])


# -- webhook requests ----------------------------------------------------------------------------------------

TOKEN = "receiver-token-SECRET"
_SIGNED_TYPES = ["generic-hmac", "github", "bitbucket", "gitlab", "harbor"]
WEBHOOKS: list[tuple[str, str, dict[str, str], bytes]] = []
for _type in _SIGNED_TYPES:
    for _label, _headers in {
        "no-proof": {},
        "empty-proof": {
            "X-Signature": "",
            "X-Hub-Signature-256": "",
            "X-Gitlab-Token": "",
            "Authorization": "",
        },
        "non-ascii": {
            "X-Signature": "sha256=é",
            "X-Hub-Signature-256": "sha256=ÿ",
            "X-Gitlab-Token": "tökén",
            "Authorization": "Bä",
        },
        "wrong-algo": {
            "X-Signature": "md5=00",
            "X-Hub-Signature-256": "md5=00",
            "X-Gitlab-Token": "x",
            "Authorization": "x",
        },
        "huge-proof": {
            "X-Signature": "sha256=" + "a" * 100_000,
            "X-Hub-Signature-256": "sha256=" + "a" * 100_000,
            "X-Gitlab-Token": "a" * 100_000,
            "Authorization": "a" * 100_000,
        },
        "token-prefix": {
            "X-Gitlab-Token": TOKEN[:-1],
            "Authorization": TOKEN[:-1],
            "X-Signature": "sha256=",
            "X-Hub-Signature-256": "sha256=",
        },
        "newline-injection": {
            "X-Gitlab-Token": TOKEN + "\r\nX-Evil: 1",
            "Authorization": TOKEN + "\n",
            "X-Signature": "sha256=\n",
            "X-Hub-Signature-256": "sha256=\n",
        },
    }.items():
        WEBHOOKS.append((f"{_type}-{_label}", _type, {"Content-Type": "application/json", **_headers}, b"{}"))
_PROVEN = {"X-Gitlab-Token": TOKEN, "Authorization": TOKEN, "Content-Type": "application/json"}
for _type in ["gitlab", "harbor", "generic", "dockerhub"]:
    for _label, _body in {
        "deep-json": b"[" * 100_000 + b"]" * 100_000,
        "deep-64+": b'{"a":' * 70 + b"1" + b"}" * 70,
        "not-json": b"<xml/>",
        "not-utf8": b'{"a": "\xff"}',
        "truncated": b'{"a": [1, 2',
    }.items():
        if _type == "generic" and _label in ("not-json", "not-utf8", "truncated"):
            continue  # generic receivers pass any body on as text
        WEBHOOKS.append((f"{_type}-{_label}", _type, _PROVEN, _body))
WEBHOOKS.append(("dockerhub-no-push-data", "dockerhub", _PROVEN, b'{"repository": {}}'))
WEBHOOKS.append(("github-form-not-json", "github", {"Content-Type": "text/xml"}, b"<x/>"))


@pytest.mark.parametrize(("kind", "headers", "body"), [w[1:] for w in WEBHOOKS], ids=[w[0] for w in WEBHOOKS])
def test_webhook_requests(kind: str, headers: dict[str, str], body: bytes) -> None:
    receiver = WebhookReceiver("hook", "flux-system", kind, TOKEN, events=(), dag_ids=("d",))
    with pytest.raises(WebhookRejected) as info:
        receiver.accept(headers, body)
    assert_clean(info.value, obj="Receiver/flux-system/hook", secrets=[TOKEN])
    assert info.value.status in (400, 401)


# -- API server requests ---------------------------------------------------------------------------------

_JSON = {"Content-Type": "application/json"}
API_REQUESTS: dict[str, tuple[str, str, dict[str, str], bytes, int]] = {
    "no-token": ("GET", "/api/v1/namespaces", {}, b"", 401),
    "wrong-token": ("GET", "/api/v1/namespaces", {"Authorization": "Bearer nope"}, b"", 401),
    "basic-auth": ("GET", "/api/v1/namespaces", {"Authorization": "Basic YTpi"}, b"", 401),
    "non-ascii-token": ("GET", "/api/v1/namespaces", {"Authorization": "Bearer tökén"}, b"", 401),
    "negative-length": ("POST", "/api/v1/namespaces", {"Content-Length": "-1"}, b"", 400),
    "text-length": ("POST", "/api/v1/namespaces", {"Content-Length": "ten"}, b"", 400),
    "two-lengths": ("POST", "/api/v1/namespaces", {"Content-Length": "2", "content-length": "3"}, b"{}", 400),
    "length-and-chunked": (
        "POST",
        "/api/v1/namespaces",
        {"Content-Length": "2", "Transfer-Encoding": "chunked"},
        b"",
        400,
    ),
    "bad-chunk": ("POST", "/api/v1/namespaces", {"Transfer-Encoding": "chunked"}, b"xyz\r\n", 400),
    "too-large": ("POST", "/api/v1/namespaces", _JSON, b"x" * (4 * 1024 * 1024), 413),
    "html-body": ("POST", "/api/v1/namespaces", {"Content-Type": "text/html"}, b"<p>", 415),
    "cbor-body": ("POST", "/api/v1/namespaces", {"Content-Type": "application/cbor"}, b"\xa0", 415),
    "empty-body": ("POST", "/api/v1/namespaces", _JSON, b"", 400),
    "not-json": ("POST", "/api/v1/namespaces", _JSON, b"{nope", 400),
    "deep-json": ("POST", "/api/v1/namespaces", _JSON, b"[" * 3000 + b"]" * 3000, 400),
    "json-scalar": ("POST", "/api/v1/namespaces", _JSON, b"42", 400),
    "yaml-bomb": (
        "POST",
        "/api/v1/namespaces",
        {"Content-Type": "application/yaml"},
        ("apiVersion: v1\nkind: Namespace\nmetadata: {name: bomb}\n" + _BOMB).encode(),
        400,
    ),
    "yaml-python-tag": (
        "POST",
        "/api/v1/namespaces",
        {"Content-Type": "application/yaml"},
        b"!!python/object/apply:os.system ['id']",
        400,
    ),
    "impersonate-group-only": (
        "GET",
        "/api/v1/namespaces",
        {"Impersonate-Group": "system:masters"},
        b"",
        403,
    ),
    "impersonate-extra-only": ("GET", "/api/v1/namespaces", {"Impersonate-Extra-Scopes": "all"}, b"", 403),
    "unknown-resource": ("GET", "/api/v1/nothings", {}, b"", 404),
    "path-traversal": ("GET", "/api/v1/namespaces/../../etc/passwd", {}, b"", 404),
    "unknown-group": ("GET", "/apis/evil.example.com/v1/things", {}, b"", 404),
    "bad-method": ("PUT", "/api/v1/namespaces", _JSON, b"{}", 405),
    "delete-options-list": ("DELETE", "/api/v1/namespaces/default", _JSON, b"[]", 400),
    "bad-fault": ("POST", "/sandbox/v1/faults", _JSON, b'{"code": 200}', 400),
    "unknown-admin-endpoint": ("GET", "/sandbox/v1/../../etc", {}, b"", 404),
}


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "code"), list(API_REQUESTS.values()), ids=list(API_REQUESTS)
)
def test_api_server_requests(
    sandbox: Sandbox, method: str, path: str, headers: dict[str, str], body: bytes, code: int
) -> None:
    auth = {} if "Authorization" in headers or code == 401 else {"Authorization": f"Bearer {sandbox.token}"}
    sized = (
        {"Content-Length": str(len(body))}
        if not any(h.lower() in ("content-length", "transfer-encoding") for h in headers)
        else {}
    )
    answer = _exchange(
        _port(sandbox), _ca(sandbox), _request(method, path, {**auth, **sized, **headers}, body)
    )
    assert answer.startswith(f"HTTP/1.1 {code} ".encode()), answer[:300]
    status = json.loads(answer.partition(b"\r\n\r\n")[2] or b"{}")
    assert status.get("kind") == "Status" and status.get("code") == code and status.get("message")
    assert "Traceback" not in status["message"] and sandbox.token not in status["message"]
    assert _exchange(_port(sandbox), _ca(sandbox), b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
        b"HTTP/1.1 200"
    )


# -- Airflow connection fields ---------------------------------------------------------------------------

CONNECTIONS: dict[str, Credentials] = {
    "ca-not-pem": Credentials(ca_cert="not a certificate"),
    "ca-empty-pem": Credentials(ca_cert="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"),
    "ca-binary": Credentials(ca_cert="\x00\x01\x02"),
    "ca-huge": Credentials(ca_cert="A" * 1_000_000),
    "password-newline": Credentials(username="u", password=f"{SECRET}\r\nX-Evil: 1", ca_cert="junk"),
    "username-colon": Credentials(username="a:b", password=SECRET, ca_cert="junk"),
}


@pytest.mark.parametrize("creds", list(CONNECTIONS.values()), ids=list(CONNECTIONS))
def test_connection_fields(creds: Credentials, answers: str, tmp_path: Path) -> None:
    """A connection's CA that is no CA fails the TLS setup clearly, naming certSecretRef."""
    source = HelmRepositorySource(
        f"https://{answers}/index-404", obj="HelmRepository/ns/charts", credentials=creds, timeout=5
    )
    with pytest.raises(SourceError) as info:
        source.fetch_index(ArtifactStore(str(tmp_path / "store")))
    assert_clean(info.value, obj="HelmRepository/ns/charts", field="spec", secrets=[SECRET])
    assert info.value.field in ("spec.certSecretRef", "spec.url", "spec.secretRef")


def corpus_sizes() -> dict[str, int]:
    """Cases per category, for the closing table (``python -m tests.hostile.test_corpus``)."""
    return {
        "Flux/Flagger specs (fields)": len(SPEC_CASES),
        "Flux/Flagger specs (documents)": len(DOCUMENTS),
        "kustomize trees": len(TREES),
        "archives": len(ARCHIVES),
        "registry and Helm repository answers": len(ANSWERS),
        "webhook requests": len(WEBHOOKS),
        "API server requests": len(API_REQUESTS),
        "Airflow connection fields": len(CONNECTIONS),
    }


if __name__ == "__main__":
    sizes = corpus_sizes()
    for name, count in sizes.items():
        print(f"{name:40} {count:4}")
    print(f"{'total':40} {sum(sizes.values()):4}")
