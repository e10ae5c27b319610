"""Versioned policy data: YAML files with effective dates, validated against a JSON Schema.

Generic on purpose: services read their own sections with their own models; this module only
finds the version in effect on a date and refuses invalid or overlapping files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class PolicyError(ValueError):
    """The policy data is missing, invalid, or ambiguous."""


@dataclass(frozen=True)
class PolicyVersion:
    """One version of the policy, in effect from `effective_from` to `effective_to` (inclusive)."""

    version: str
    effective_from: date
    effective_to: date | None
    data: dict[str, Any]

    def covers(self, day: date) -> bool:
        """True when this version is in effect on `day`."""
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )

    def section(self, name: str) -> Any:
        """A top-level section; `PolicyError` when missing."""
        if name not in self.data:
            raise PolicyError(f"policy {self.version} has no section {name!r}")
        return self.data[name]


@dataclass(frozen=True)
class PolicySet:
    """All versions, oldest first, with non-overlapping effective ranges."""

    versions: tuple[PolicyVersion, ...]

    def in_effect(self, day: date) -> PolicyVersion:
        """The version in effect on `day`."""
        for version in reversed(self.versions):
            if version.covers(day):
                return version
        raise PolicyError(f"no policy version is in effect on {day.isoformat()}")

    def by_version(self, version: str) -> PolicyVersion:
        """A version by its label (to explain or replay a past decision)."""
        for candidate in self.versions:
            if candidate.version == version:
                return candidate
        raise PolicyError(f"unknown policy version {version!r}")

    @property
    def latest(self) -> PolicyVersion:
        """The newest version."""
        return self.versions[-1]


def default_policy_dir() -> Path:
    """`policy/` of the checkout (or of the image's working directory)."""
    return Path.cwd() / "policy"


def _as_date(value: Any, *, field: str, source: Path) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise PolicyError(f"{source.name}: {field} is not a date") from exc


def load_policy_set(directory: Path | str | None = None) -> PolicySet:
    """Load and validate every `versions/*.yaml` under the policy directory."""
    root = Path(directory) if directory else default_policy_dir()
    schema_path = root / "schema.json"
    if not schema_path.exists():
        raise PolicyError(f"policy schema not found at {schema_path}")
    validator = jsonschema.Draft202012Validator(json.loads(schema_path.read_text()))
    versions: list[PolicyVersion] = []
    for path in sorted((root / "versions").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = sorted(validator.iter_errors(_jsonable(data)), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.path) or "(root)"
            raise PolicyError(f"{path.name}: {where}: {first.message}")
        effective_to = data.get("effective_to")
        versions.append(
            PolicyVersion(
                version=str(data["version"]),
                effective_from=_as_date(
                    data["effective_from"], field="effective_from", source=path
                ),
                effective_to=(
                    _as_date(effective_to, field="effective_to", source=path)
                    if effective_to
                    else None
                ),
                data=data,
            )
        )
    if not versions:
        raise PolicyError(f"no policy versions under {root / 'versions'}")
    versions.sort(key=lambda v: v.effective_from)
    for earlier, later in pairwise(versions):
        if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
            raise PolicyError(f"policy versions {earlier.version} and {later.version} overlap")
    return PolicySet(tuple(versions))


def _jsonable(value: Any) -> Any:
    """YAML dates become ISO strings so JSON Schema `format: date` applies."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value
