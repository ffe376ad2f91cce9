"""Go's text/template with sprig's hermetic functions: what Flux renders commit messages with.

``parse`` refuses what Go's parser refuses (syntax, unknown functions, undefined
variables); ``execute`` runs a parsed template over Python values standing for Go ones
(see :mod:`.gofmt`). Functions are looked up as Go's ``template.Funcs`` does: sprig's
map first, then the builtins (so sprig's ``slice`` wins, as in Flux).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_flux_provider.images.gotemplate.execute import BUILTINS, Executor, GoFunc
from airflow_flux_provider.images.gotemplate.gofmt import MISSING
from airflow_flux_provider.images.gotemplate.parse import TemplateError, Tree
from airflow_flux_provider.images.gotemplate.parse import parse as _parse
from airflow_flux_provider.images.gotemplate.sprig import SPRIG

FUNCTIONS: Mapping[str, GoFunc] = {**BUILTINS, **SPRIG}


def parse(source: str) -> Tree:
    """Parse a template as Go's ``template.New(...).Funcs(sprig.HermeticTxtFuncMap()).Parse``."""
    return _parse(source, FUNCTIONS)


def execute(tree: Tree, data: Any) -> str:
    """Run ``tree`` with ``data`` as dot; execution errors are :class:`TemplateError`."""
    return Executor(tree, FUNCTIONS).run(data)


__all__ = ["FUNCTIONS", "MISSING", "TemplateError", "Tree", "execute", "parse"]
