"""ImagePolicy: choose the latest tag as image-reflector-controller does.

``filterTags.pattern`` keeps the tags it matches (unanchored, leftmost match) and
``extract`` (``$ts``/``${ts}``/``$1``) says which text the policy compares; the tag
returned is always the original one. ``semver`` reads values as Flux does (three
dot-separated parts, then Masterminds' lenient parser: ``v1.2.3`` and CalVer
``2025.02.03`` qualify), ``alphabetical`` compares bytes and ``numerical`` parses every
value as Go's ``strconv.ParseFloat`` does and fails on one that is not a number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from airflow_flux_provider.images.errors import ImageError, NoTagError
from airflow_flux_provider.patterns import Match, regex
from airflow_flux_provider.semver import Constraint, SemverError, Version
from airflow_flux_provider.specs.images import ImagePolicy, ImagePolicySpec

_RANGE_FIELD = "spec.policy.semver.range"
Kind = Literal["semver", "alphabetical", "numerical"]
Order = Literal["asc", "desc"]

_REFERENCE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))", re.ASCII)  # Go: letters, digits, "_"
# Go's floating-point literal syntax, as strconv.ParseFloat reads it: "_" only between digits
# (or right after a 0x prefix), a hex mantissa needs a "p" exponent, NaN takes no sign.
_DEC = r"[0-9](?:_?[0-9])*"
_HEX = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_GO_FLOAT = re.compile(rf"[+-]?(?:{_DEC}(?:\.(?:{_DEC})?)?|\.{_DEC})(?:[eE][+-]?{_DEC})?")
_GO_HEX_FLOAT = re.compile(rf"[+-]?0[xX]_?(?:{_HEX}(?:\.(?:{_HEX})?)?|\.{_HEX})[pP][+-]?{_DEC}")
_GO_SPECIAL = re.compile(r"[+-]?inf(?:inity)?|nan", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """What an ImagePolicy resolved to; ``ref`` is what a setter writes for a whole image."""

    image: str
    tag: str
    digest: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


class TagFilter:
    """``filterTags``: a Go-style regex and an ``extract`` template over its groups."""

    def __init__(self, pattern: str = "", extract: str = "", *, obj: str = "ImagePolicy") -> None:
        self.regex = regex(pattern, obj=obj, field="spec.filterTags.pattern", error=ImageError)
        self.extract = extract
        for m in _REFERENCE.finditer(extract):
            name = m[1] or m[2]
            if name and not self._known_group(name):
                raise ImageError(
                    f"extract {extract!r} refers to ${name}, which pattern {pattern!r} does not define; "
                    f"name a group with (?P<{name}>...) or change the reference",
                    obj=obj,
                    field="spec.filterTags.extract",
                )

    def _known_group(self, name: str) -> bool:
        if name.isdigit():
            return int(name) <= self.regex.groups
        return name in self.regex.groupindex

    def apply(self, tags: Iterable[str]) -> dict[str, str]:
        """Map each compared value to its tag (a later tag wins a shared value, as in Flux)."""
        search, extract = self.regex.search, self.extract
        if not extract:
            return {tag: tag for tag in tags if search(tag)}
        kept: dict[str, str] = {}
        for tag in tags:
            m = search(tag)
            if m is not None:
                kept[go_expand(extract, m)] = tag
        return kept


def go_expand(template: str, m: Match) -> str:
    """Go's ``Regexp.ExpandString``: unknown or unmatched groups expand to nothing."""

    def one(ref: re.Match[str]) -> str:
        name = ref[1] or ref[2]
        if name is None:
            return "$"
        try:
            return m.group(int(name) if name.isdigit() else name) or ""
        except IndexError:
            return ""

    return _REFERENCE.sub(one, template)


def go_parse_float(text: str) -> float | None:
    """``strconv.ParseFloat(text, 64)``, or None where Go returns an error (a value out of
    range included: Go refuses ``1e400``, Python would give ``inf``)."""
    if _GO_SPECIAL.fullmatch(text):
        return float(text)
    digits = text.replace("_", "")
    try:
        if _GO_FLOAT.fullmatch(text):
            value = float(digits)
        elif _GO_HEX_FLOAT.fullmatch(text):
            value = float.fromhex(digits)
        else:
            return None
    except OverflowError:
        return None
    return None if math.isinf(value) else value


class TagPolicy:
    """One of Flux's three policies, ready to run over tag lists."""

    def __init__(
        self,
        kind: Kind,
        *,
        semver_range: str | None = None,
        order: Order = "asc",
        tag_filter: TagFilter | None = None,
        obj: str = "ImagePolicy",
    ) -> None:
        self.kind, self.order, self.obj = kind, order, obj
        self.filter = tag_filter
        self.constraint: Constraint | None = None
        if kind == "semver":
            if semver_range is None:
                raise ImageError(
                    "a semver policy needs a range, e.g. >=1.0.0", obj=obj, field="spec.policy.semver.range"
                )
            try:
                self.constraint = Constraint.parse(semver_range)
            except SemverError as err:
                raise ImageError(err.message, obj=obj, field=_RANGE_FIELD) from None

    @classmethod
    def from_spec(cls, spec: ImagePolicySpec, *, obj: str = "ImagePolicy") -> TagPolicy:
        choice = spec.policy
        tag_filter = None
        if spec.filter_tags is not None and (spec.filter_tags.pattern or spec.filter_tags.extract):
            tag_filter = TagFilter(spec.filter_tags.pattern, spec.filter_tags.extract, obj=obj)
        if choice.semver is not None:
            return cls("semver", semver_range=choice.semver.range, tag_filter=tag_filter, obj=obj)
        ordered = choice.alphabetical or choice.numerical
        assert ordered is not None  # the spec guarantees exactly one choice
        kind: Kind = "alphabetical" if choice.alphabetical is not None else "numerical"
        return cls(kind, order=ordered.order, tag_filter=tag_filter, obj=obj)

    @classmethod
    def from_object(cls, policy: ImagePolicy) -> TagPolicy:
        return cls.from_spec(policy.spec, obj=policy.ref)

    def latest(self, tags: Iterable[str]) -> str:
        """Return the chosen tag; :class:`NoTagError` when none qualifies."""
        tags = list(tags)
        values = self.filter.apply(tags) if self.filter else {t: t for t in tags}
        if not values:
            where = (
                f" matches filterTags.pattern {self.filter.regex.pattern!r}"
                if self.filter
                else " was scanned"
            )
            raise NoTagError(
                f"no tag{where} (out of {len(tags)}); check the pattern or the repository", obj=self.obj
            )
        chosen = getattr(self, f"_{self.kind}")(list(values))
        return values[chosen]

    def _semver(self, values: list[str]) -> str:
        assert self.constraint is not None
        check, best = self.constraint.check, None
        for text in values:
            try:
                v = Version.parse_tag(text)
            except SemverError:
                continue
            if (best is None or v > best) and check(v):
                best = v
        if best is None:
            raise NoTagError(
                f"none of {len(values)} tags satisfies semver range {self.constraint.expr!r}; "
                "widen the range or push a matching tag",
                obj=self.obj,
                field=_RANGE_FIELD,
            )
        return best.original

    def _alphabetical(self, values: list[str]) -> str:
        return max(values) if self.order == "asc" else min(values)

    def _numerical(self, values: list[str]) -> str:
        latest, best = "", 0.0
        for i, text in enumerate(values):
            number = go_parse_float(text)
            if number is None:
                raise ImageError(
                    f"tag value {text!r} is not a number, so the numerical policy cannot order it; "
                    "use filterTags to keep (and extract) numeric values only",
                    obj=self.obj,
                    field="spec.policy.numerical",
                )
            if i and (number < best if self.order == "asc" else number > best):
                continue
            latest, best = text, number
        return latest


def policy_key(policy: ImagePolicy) -> str:
    """The ``<namespace>:<name>`` a setter marker uses for this policy."""
    return f"{policy.metadata.namespace}:{policy.metadata.name}"
