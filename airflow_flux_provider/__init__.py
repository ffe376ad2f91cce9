"""FluxCD-style GitOps delivery and Flagger-style canary analysis for Apache Airflow 3.

Importing the package is cheap on purpose: Airflow imports it in every DAG-parsing
process, so nothing heavy (Kubernetes client, MLflow) is loaded here.
"""

__version__ = "0.1.0"
