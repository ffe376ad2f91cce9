"""The one small cluster interface everything Kubernetes-facing goes through."""

from airflow_flux_provider.kube.cluster import (
    Cluster,
    ConflictError,
    ForbiddenError,
    InvalidObjectError,
    KubeError,
    NotFoundError,
    ObjectKey,
    UnknownKindError,
    service_account_user,
)

__all__ = [
    "Cluster",
    "ConflictError",
    "ForbiddenError",
    "InvalidObjectError",
    "KubeError",
    "NotFoundError",
    "ObjectKey",
    "UnknownKindError",
    "service_account_user",
]
