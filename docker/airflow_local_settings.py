"""Airflow imports this at the start of every component ($AIRFLOW_HOME/config is on its path).

The scheduler, Celery workers, the dag-processor and the triggerer import the provider's task
modules here, once, so the task processes they fork start with them (README: "Cheaper task
processes"). Keep your own settings and cluster policies beside these lines.
"""

from airflow_flux_provider.preload import preload

preload()
