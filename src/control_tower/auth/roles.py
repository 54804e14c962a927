"""Roles (DESIGN §5): owner > maintainer > operator > viewer; producers only send events."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    owner = "owner"
    maintainer = "maintainer"
    operator = "operator"
    viewer = "viewer"
    producer = "producer"


_RANK = {Role.viewer: 1, Role.operator: 2, Role.maintainer: 3, Role.owner: 4, Role.producer: 0}


def has_role(actual: Role, required: Role) -> bool:
    """A producer matches only `producer`; the others include every role below them."""
    if required is Role.producer or actual is Role.producer:
        return actual is required
    return _RANK[actual] >= _RANK[required]


STAFF_ROLES = (Role.viewer, Role.operator, Role.maintainer, Role.owner)
