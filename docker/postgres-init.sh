#!/usr/bin/env bash
# The MLflow tracking server keeps its runs and model registry in a database of its own.
# Run by the postgres image at the first start (as POSTGRES_USER, into POSTGRES_DB).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE USER mlflow WITH PASSWORD :'password';
CREATE DATABASE mlflow OWNER mlflow;
SQL
