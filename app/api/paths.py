"""Path parameters shared by the routes, with the input limits of SPEC B7."""

from typing import Annotated

from fastapi import Path

from app.schemas.common import INT32_MAX, INT32_MIN, PortId

DeviceIdPath = Annotated[
    int, Path(ge=INT32_MIN, le=INT32_MAX, description="Device id", examples=[1])
]
PointIdPath = Annotated[
    int, Path(ge=INT32_MIN, le=INT32_MAX, description="Patchbay point id", examples=[1])
]
PortIdPath = Annotated[PortId, Path(description="Port id", examples=["dev-1-port-1"])]
