"""Who is asking (token + impersonation headers) and whether stored RBAC objects allow it.

The admin token is ``system:masters`` and may do anything, including impersonate; an
impersonated identity is checked against Roles, ClusterRoles and their bindings the way
the RBAC authorizer does it, so multi-tenant lockdown can be tested for real.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flux_devkit.sandbox.status import ApiError
from flux_devkit.sandbox.store import Store

RBAC = "rbac.authorization.k8s.io"
ADMIN_GROUP = "system:masters"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups

    @classmethod
    def admin(cls) -> User:
        return cls("sandbox-admin", (ADMIN_GROUP, "system:authenticated"))

    @classmethod
    def impersonated(cls, name: str, groups: Iterable[str]) -> User:
        all_groups = [*groups]
        if name.startswith("system:serviceaccount:"):
            namespace = name.split(":")[2]
            all_groups += ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
        all_groups.append("system:authenticated")
        return cls(name, tuple(dict.fromkeys(all_groups)))


@dataclass(frozen=True)
class Attributes:
    """What a request wants to do, as the authorizer sees it."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # a non-resource request (/healthz, /metrics…): judged by nonResourceURLs rules


def _subject_matches(subject: dict[str, Any], user: User, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


def _rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if attrs.path:  # "/metrics" or a prefix ending in "*", as the RBAC authorizer matches them
        urls = rule.get("nonResourceURLs") or []
        return any(u == attrs.path or (u.endswith("*") and attrs.path.startswith(u[:-1])) for u in urls)
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.group not in groups:
        return False
    resources = rule.get("resources") or []
    wanted = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not (
        "*" in resources
        or wanted in resources
        or (attrs.subresource and f"*/{attrs.subresource}" in resources)
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


class Authorizer:
    """RBAC over the objects in a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _rules(self, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
        if kind == "ClusterRole":
            role = self.store.get(RBAC, "clusterroles", "", name)
        elif kind == "Role":
            role = self.store.get(RBAC, "roles", namespace, name)
        else:
            role = None
        return list((role or {}).get("rules") or [])

    def allowed(self, user: User, attrs: Attributes) -> bool:
        if user.is_admin:
            return True
        for binding in self.store.list(RBAC, "clusterrolebindings"):
            if any(_subject_matches(s, user, "") for s in binding.get("subjects") or []):
                ref = binding.get("roleRef") or {}
                if any(_rule_allows(r, attrs) for r in self._rules("ClusterRole", "", ref.get("name", ""))):
                    return True
        if not attrs.namespace or attrs.path:  # non-resource URLs are granted by ClusterRoles only
            return False
        for binding in self.store.list(RBAC, "rolebindings", attrs.namespace):
            if any(_subject_matches(s, user, attrs.namespace) for s in binding.get("subjects") or []):
                ref = binding.get("roleRef") or {}
                rules = self._rules(ref.get("kind", ""), attrs.namespace, ref.get("name", ""))
                if any(_rule_allows(r, attrs) for r in rules):
                    return True
        return False

    def review(self, requester: User, review: Any, *, self_review: bool) -> dict[str, Any]:
        """Answer a (Self)SubjectAccessReview: may that user do the described request?"""
        if not isinstance(review, dict) or not isinstance(review.get("spec"), dict):
            raise ApiError(400, "an access review needs a spec with resourceAttributes")
        spec = review["spec"]
        if self_review:
            user = requester
        else:
            user = User.impersonated(str(spec.get("user", "")), spec.get("groups") or [])
        non_resource = spec.get("nonResourceAttributes")
        if isinstance(non_resource, dict) and non_resource:
            attrs = Attributes(
                verb=str(non_resource.get("verb", "")),
                group="",
                resource="",
                path=str(non_resource.get("path", "")),
            )
        else:
            attrs_in = spec.get("resourceAttributes") or {}
            if not isinstance(attrs_in, dict):
                raise ApiError(400, "spec.resourceAttributes must be an object")
            attrs = Attributes(
                verb=str(attrs_in.get("verb", "")),
                group=str(attrs_in.get("group", "")),
                resource=str(attrs_in.get("resource", "")),
                subresource=str(attrs_in.get("subresource", "")),
                namespace=str(attrs_in.get("namespace", "")),
                name=str(attrs_in.get("name", "")),
            )
        allowed = bool(attrs.path or attrs.resource) and self.allowed(user, attrs)
        return {**review, "metadata": review.get("metadata") or {}, "status": {"allowed": allowed}}

    def check(self, user: User, attrs: Attributes) -> None:
        """403 with the API server's wording when ``user`` may not do ``attrs``."""
        if self.allowed(user, attrs):
            return
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        subject = f'{attrs.resource} "{attrs.name}"' if attrs.name else attrs.resource
        if attrs.group:
            subject = (
                f'{attrs.resource}.{attrs.group} "{attrs.name}"'
                if attrs.name
                else f"{attrs.resource}.{attrs.group}"
            )
        scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        details: dict[str, Any] = {"kind": attrs.resource}
        if attrs.name:
            details["name"] = attrs.name
        if attrs.group:
            details["group"] = attrs.group
        raise ApiError(
            403,
            f'{subject} is forbidden: User "{user.name}" cannot {attrs.verb} resource "{resource}" '
            f'in API group "{attrs.group}" {scope}',
            details=details,
        )
