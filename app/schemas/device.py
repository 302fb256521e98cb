from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from app.schemas.common import MAX_ITEMS, Name, PatchModel, left_out
from app.schemas.port import PortCreate, PortRead


class DeviceCreate(BaseModel):
    name: Name
    type: Name
    ports: list[PortCreate] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Ports in the order they should be numbered and listed.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Juno-106",
                    "type": "Synth",
                    "ports": [
                        {"label": "MIDI IN", "type": "Input", "patchbay_id": 1},
                        {"label": "OUT L", "type": "output"},
                    ],
                }
            ]
        }
    )


class DeviceDeleted(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    type: str


class DeviceRead(DeviceDeleted):
    ports: list[PortRead]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "name": "Juno-106",
                    "type": "Synth",
                    "ports": [
                        {
                            "id": "dev-1-port-1",
                            "label": "MIDI IN",
                            "type": "Input",
                            "patchbay_id": 1,
                        },
                        {
                            "id": "dev-1-port-2",
                            "label": "OUT L",
                            "type": "Output",
                            "patchbay_id": None,
                        },
                    ],
                }
            ]
        }
    )


class DeviceUpdate(PatchModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Juno-106 (studio B)"}]})

    name: Name | SkipJsonSchema[None] = left_out()
    type: Name | SkipJsonSchema[None] = left_out()
