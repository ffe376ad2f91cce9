# The MLflow tracking server of the compose stack: the full server (the provider image carries
# only MLflow's client) with the PostgreSQL driver, at the versions the tests run against
# (tests/test_production_stack.py checks they equal requirements.lock's).
FROM python:3.11-slim
RUN pip install --no-cache-dir "mlflow==3.17.2" "psycopg2-binary==2.9.10"
# Not root; the artifact folder belongs to this user, so the named volume mounted on it
# (which starts as a copy of the image's folder) is writable by the server.
RUN useradd --system --uid 50001 --home-dir /mlartifacts --no-create-home mlflow \
    && mkdir /mlartifacts && chown mlflow: /mlartifacts
USER mlflow
