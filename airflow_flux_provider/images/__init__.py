"""Image automation as Flux's image-reflector and image-automation controllers do it.

Scan a registry's tags (:mod:`.registry`), pick one with an ImagePolicy (:mod:`.policy`),
write it into marked YAML (:mod:`.setters`) and commit/push (:mod:`.commit`). Plain
Python: the Airflow layer in ``operators/images.py`` only translates.
"""
