"""Sensors: wait for a Flux-style condition (a new image tag, a new source revision)."""
