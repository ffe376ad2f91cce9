"""The dev kit's container images, built without a container engine and pushed to a registry.

An image here is a small Python program (``programs/``) in one layer plus an OCI config
whose Entrypoint runs it with ``python3``: the sandbox's kubelet lends its own interpreter
(with the packages of the dev kit's environment) to images, so the layer holds only the
program. The layer is a reproducible tar (fixed times and owners, sorted), so the same
program and config always give the same digest.
"""

from flux_devkit.images.build import ImageSpec, build_layer, push_image

__all__ = ["ImageSpec", "build_layer", "push_image"]
