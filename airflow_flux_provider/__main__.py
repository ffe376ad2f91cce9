"""``python -m airflow_flux_provider <command>``: the capabilities without a scheduler."""

from airflow_flux_provider.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
