from app.models.device import Device
from app.models.patchbay_point import PatchbayPoint
from app.models.port import Port, PortType
from app.models.state_revision import StateRevision

__all__ = ["Device", "PatchbayPoint", "Port", "PortType", "StateRevision"]
