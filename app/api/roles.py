"""Who may do what (SPEC F): the role each operation needs, declared once, here.

Every GET (and HEAD) needs `read`, and so does the event stream. The writes below change the
patch of what exists and need `patch`; every other write (creating, renaming and deleting
devices, ports, points, bays and scenes, capturing scenes, slots, electrical properties,
imports and reverts) needs `admin`. `Guard` (app/api/middleware.py) refuses a key used beyond
its role with 403 before anything else is looked at; `describe_roles` shows each operation's
role in OpenAPI.
"""

from collections.abc import Iterable
from contextvars import ContextVar

from fastapi import APIRouter
from fastapi.routing import APIRoute

from app.core.config import Role

PATCH_OPERATIONS = frozenset(
    {
        ("POST", "/ports/{port_id}/link"),
        ("POST", "/ports/{port_id}/unlink"),
        ("PUT", "/ports/{port_id}/patchbay"),
        ("POST", "/ports/bulk-link"),
        ("POST", "/cables"),
        ("PATCH", "/cables/{cable_id}"),
        ("DELETE", "/cables/{cable_id}"),
        ("PATCH", "/bays/{bay_id}/channels"),
        ("POST", "/scenes/{scene_id}/apply"),
        ("POST", "/checks/preview"),
    }
)
_READS = frozenset({"GET", "HEAD"})

# The role of the key the request came with (admin when no keys are configured).
role_var: ContextVar[Role] = ContextVar("role", default=Role.ADMIN)


def needed(method: str, path: str) -> Role:
    """The role an operation needs; `path` as declared (`/ports/{port_id}/link`)."""
    if method in _READS:
        return Role.READ
    return Role.PATCH if (method, path) in PATCH_OPERATIONS else Role.ADMIN


def describe_roles(routers: Iterable[APIRouter]) -> None:
    """Say in each operation's OpenAPI which role it needs (`x-role`, and a line of its
    description that Swagger UI shows), before the routers are included in an app (which
    works with copies of their routes)."""
    for route in (route for router in routers for route in router.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        [role] = {needed(method, route.path_format) for method in route.methods or ()}
        route.openapi_extra = {**(route.openapi_extra or {}), "x-role": role.value}
        note = f"Needs a key whose role is `{role.value}`"
        note += " or above" if role is not Role.ADMIN else ""
        note += " (when `API_KEYS` give keys roles)."
        # The routers, and so their routes, are shared by every app made in one process.
        if not route.description.endswith(note):
            route.description = f"{route.description}\n\n{note}"
