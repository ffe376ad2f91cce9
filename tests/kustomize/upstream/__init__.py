"""Upstream Flux test suites replayed as this project's tables, one module per upstream suite.

The inputs and expected outputs are facts taken from the named upstream test (suite and
version in each module's docstring); the test code is ours. A change that breaks Flux
compatibility fails a test named after the upstream case.
"""
