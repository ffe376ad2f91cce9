"""The sandbox's kubelet: Pods of allowed images run as local processes (``serve --run-workloads``)."""

from flux_devkit.sandbox.kubelet.settings import WorkloadSettings

__all__ = ["WorkloadSettings"]
