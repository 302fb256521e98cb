from app.models.device import Device
from app.models.patchbay_point import PatchbayPoint
from app.models.port import Port, PortType

__all__ = ["Device", "PatchbayPoint", "Port", "PortType"]
