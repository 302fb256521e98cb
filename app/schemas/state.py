from pydantic import BaseModel

from app.schemas.device import DeviceRead
from app.schemas.patchbay_point import PointRead


class StateRead(BaseModel):
    patchbay_points: list[PointRead]
    devices: list[DeviceRead]
