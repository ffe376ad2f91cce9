# The MLflow tracking server of the compose stack: the full server (the provider image carries
# only MLflow's client) with the PostgreSQL driver, at the version the tests run against.
FROM python:3.11-slim
RUN pip install --no-cache-dir "mlflow==3.17.2" "psycopg2-binary==2.9.10"
