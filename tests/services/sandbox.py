"""Session-scoped sandbox Kubernetes API server fixture."""
