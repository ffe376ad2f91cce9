"""Airflow plugins: the webhook receivers (API server) and the task-state listener."""
