from pydantic import BaseModel

from app.schemas.bay import BayRead
from app.schemas.cable import CableRead
from app.schemas.device import DeviceRead
from app.schemas.patchbay_point import PointRead


class StateRead(BaseModel):
    patchbay_points: list[PointRead]
    devices: list[DeviceRead]
    bays: list[BayRead]
    cables: list[CableRead]
