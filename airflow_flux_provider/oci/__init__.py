"""OCI registries: one image-reference parser and one distribution-API client, used by image
scanning, OCIRepository sources and OCI Helm charts. No Airflow imports."""
