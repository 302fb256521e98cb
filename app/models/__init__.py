from app.models.bay import Bay, BayChannel, NormallingMode
from app.models.cable import Cable, CableEnd
from app.models.device import Device
from app.models.electrical import ELECTRICAL_DEFAULTS, Level, PortElectrical
from app.models.history import HistoryChange, HistoryEntry
from app.models.patchbay_point import PatchbayPoint
from app.models.port import Port, PortType
from app.models.scene import Scene
from app.models.state_revision import StateRevision

__all__ = [
    "ELECTRICAL_DEFAULTS",
    "Bay",
    "BayChannel",
    "Cable",
    "CableEnd",
    "Device",
    "HistoryChange",
    "HistoryEntry",
    "Level",
    "NormallingMode",
    "PatchbayPoint",
    "Port",
    "PortElectrical",
    "PortType",
    "Scene",
    "StateRevision",
]
