"""The connection layer: Airflow connections in, credentials and clusters out.

This package stays light to import (DAG files import operators that name these defaults); the
hooks themselves live in :mod:`.connections`, :mod:`.kubernetes` and :mod:`.mlflow`.
"""

#: The cncf-kubernetes connection a cluster task uses unless it names another.
KUBERNETES_CONN_ID = "kubernetes_default"
#: The MLflow tracking connection deployment and training tasks record to.
MLFLOW_CONN_ID = "flux_mlflow_default"
