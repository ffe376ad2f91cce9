"""Source acquisition: turn GitRepository / HelmRepository / Bucket / OCIRepository specs into
immutable, content-addressed artifacts (what Flux's source-controller does). No Airflow imports."""
