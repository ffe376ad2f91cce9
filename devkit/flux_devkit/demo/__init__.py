"""The one-command demo: embedded services, a GitOps repository and the ML DAGs end to end."""
