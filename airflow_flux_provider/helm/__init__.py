"""HelmRelease with helm-controller semantics, driven through the real ``helm`` binary.

Modules: ``values`` (Flux's values composition and digest), ``chart`` (which chart, which
version), ``cli`` (an isolated, secret-scrubbing ``helm`` runner), ``postrender`` (kustomize
patches as a helm post-renderer), ``release`` (the install/upgrade/test/remediate state
machine), ``drift`` (release manifest vs live objects). Kept import-free here because helm
starts ``python -m airflow_flux_provider.helm.postrender`` for every render.
"""
