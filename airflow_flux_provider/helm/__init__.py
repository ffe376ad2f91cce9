"""HelmRelease with helm-controller semantics, driven through the real ``helm`` binary.

Modules: ``values`` (Flux's values composition and digest), ``chart`` (which chart, which
version), ``cli`` (an isolated, secret-scrubbing ``helm`` runner), ``postrender`` (kustomize
patches as a helm post-renderer), ``state`` (helm-controller's release states and next
actions, pure), ``release`` (runs those actions: install, upgrade, test, rollback,
uninstall), ``status`` (the HelmRelease status and its snapshots), ``drift`` (a forced
server-side dry-run of the release manifest against the live objects).
"""
