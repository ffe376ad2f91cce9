"""Real local services for the tests and the demo: git over HTTP, an OCI registry, S3,
MLflow, Prometheus with a controllable exporter, and a Helm chart repository.

Plain Python (no pytest, no Airflow): each ``start_*`` returns a handle with ``.stop()``
bound to a free port on 127.0.0.1 and logging to a file that is kept afterwards.
"""
