from collections import Counter
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.models.electrical import Level
from app.schemas.common import MAX_ITEMS, PatchModel, PortId, left_out

_RIBBON: dict[str, JsonValue] = {
    "port_id": "dev-3-port-1",
    "level": "mic",
    "phantom": False,
    "phantom_safe": False,
}
_PREAMP: dict[str, JsonValue] = {
    "port_id": "dev-4-port-3",
    "level": "mic",
    "phantom": True,
    "phantom_safe": True,
}


class ElectricalRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RIBBON, _PREAMP]})

    port_id: str
    level: Level | None = Field(description="The signal level; null: unknown.")
    phantom: bool = Field(
        description="An input that sends +48 V when its preamp's switch is on (false on any "
        "other port)."
    )
    phantom_safe: bool = Field(
        description="False for an output that +48 V can damage: a ribbon microphone, an "
        "unbalanced or transformer-less output (true on any other port)."
    )


class ElectricalUpdate(PatchModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"level": "mic", "phantom_safe": False},
                {"phantom": True},
                {"level": None},
            ]
        }
    )
    nullable: ClassVar[frozenset[str]] = frozenset({"level"})

    level: Level | None = left_out("The signal level; null: unknown.")
    phantom: StrictBool | SkipJsonSchema[None] = left_out(
        "Inputs only: sends +48 V (true on another port is 422)."
    )
    phantom_safe: StrictBool | SkipJsonSchema[None] = left_out(
        "Outputs only: false when +48 V can damage it (false on another port is 422)."
    )


class PortElectricalUpdate(ElectricalUpdate):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"port_id": "dev-3-port-1", "phantom_safe": False}]}
    )

    port_id: PortId


class DeviceElectricalUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "ports": [
                        {"port_id": "dev-4-port-3", "level": "mic", "phantom": True},
                        {"port_id": "dev-4-port-9", "level": "line"},
                    ]
                }
            ]
        },
    )

    ports: list[PortElectricalUpdate] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description="Ports of this device, each at most once; keys left out stay as they are.",
    )

    @model_validator(mode="after")
    def _each_port_once(self) -> Self:
        twice = [port for port, n in Counter(p.port_id for p in self.ports).items() if n > 1]
        if twice:
            raise ValueError(f"each port at most once: {twice[0]} is given more than once")
        return self


class DeviceElectricalRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"device_id": 4, "ports": [_PREAMP]}]}
    )

    device_id: int
    ports: list[ElectricalRead] = Field(description="Every port of the device, in creation order.")
