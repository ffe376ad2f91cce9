-- The MLflow tracking server keeps its runs and model registry in a database of its own.
CREATE USER mlflow WITH PASSWORD 'mlflow';
CREATE DATABASE mlflow OWNER mlflow;
