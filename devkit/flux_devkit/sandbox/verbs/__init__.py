"""The resource verbs — get, list, watch, create, update, patch, apply, delete — with API-server semantics.

Transport-free: :class:`ResourceApi` takes a parsed :class:`Call` and returns
``(code, body)``; the HTTP layer does auth, routing and encoding. Writes hold the
store lock for their read-modify-write so concurrent clients see serializable updates.
One module per verb, each a mixin over :class:`~flux_devkit.sandbox.verbs.core.Verbs`.
"""

from flux_devkit.sandbox.verbs.call import CRD_GROUP, Call, decode_body, now
from flux_devkit.sandbox.verbs.create import CreateVerb
from flux_devkit.sandbox.verbs.delete import DeleteVerb
from flux_devkit.sandbox.verbs.get import GetVerb
from flux_devkit.sandbox.verbs.patch import PatchVerb
from flux_devkit.sandbox.verbs.update import UpdateVerb
from flux_devkit.sandbox.verbs.watch import WatchVerb


class ResourceApi(GetVerb, DeleteVerb, WatchVerb, CreateVerb, UpdateVerb, PatchVerb):
    """Every verb over one :class:`~flux_devkit.sandbox.store.Store` and resource table."""


__all__ = ["CRD_GROUP", "Call", "ResourceApi", "decode_body", "now"]
