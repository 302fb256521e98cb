"""Path parameters shared by the routes, with the input limits of SPEC B7."""

from typing import Annotated

from fastapi import Path
from starlette.convertors import Convertor, register_url_convertor

from app.schemas.common import INT32_MAX, INT32_MIN, PortId


class _PointSegment(Convertor[str]):
    """A path segment that is anything but a reserved word, so that `/patchbay-points/bulk`
    and `/ports/bulk-link` are only their own routes: another method there is a 405 naming the
    right `Allow`, not a 422 or 404 about an id. FastAPI still validates the value."""

    regex = "(?!bulk$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _PortSegment(_PointSegment):
    regex = "(?!bulk-link$)[^/]+"


# Use as "/{point_id:point_segment}" and "/{port_id:port_segment}".
register_url_convertor("point_segment", _PointSegment())
register_url_convertor("port_segment", _PortSegment())

DeviceIdPath = Annotated[
    int, Path(ge=INT32_MIN, le=INT32_MAX, description="Device id", examples=[1])
]
PointIdPath = Annotated[
    int, Path(ge=INT32_MIN, le=INT32_MAX, description="Patchbay point id", examples=[1])
]
PortIdPath = Annotated[PortId, Path(description="Port id", examples=["dev-1-port-1"])]
BayIdPath = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX, description="Bay id", examples=[1])]
CableIdPath = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX, description="Cable id", examples=[1])]
SceneIdPath = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX, description="Scene id", examples=[1])]
