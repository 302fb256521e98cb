from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.models.port import PortType
from app.schemas.common import DbInt, Name, PortId


def _normalise_port_type(value: Any) -> Any:
    # Clients send "input", " OUTPUT " and the like; any case, surrounding spaces ignored.
    if isinstance(value, str):
        wanted = value.strip().lower()
        for member in PortType:
            if wanted in (member.value.lower(), member.name.lower()):
                return member
    return value


PortTypeIn = Annotated[PortType, BeforeValidator(_normalise_port_type)]


class PortCreate(BaseModel):
    label: Name
    type: PortTypeIn
    patchbay_id: DbInt | None = None

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"label": "MIDI IN", "type": "Input", "patchbay_id": 1}]}
    )


class PortRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {"id": "dev-1-port-1", "label": "MIDI IN", "type": "Input", "patchbay_id": 1}
            ]
        },
    )

    id: str
    label: str
    type: PortType
    patchbay_id: int | None


class LinkRequest(BaseModel):
    patchbay_id: DbInt = Field(description="The patchbay point to move the port to.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"patchbay_id": 2}]})


class PatchbayAssign(BaseModel):
    patchbay_id: DbInt | None = Field(
        default=None, description="The point to wire the port to, or null to free it."
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"patchbay_id": 3}, {"patchbay_id": None}]}
    )


class LinkResult(PortRead):
    unlinked_port_id: PortId | None = Field(
        description="The port that held the point until now and was unlinked, if any."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "dev-1-port-1",
                    "label": "MIDI IN",
                    "type": "Input",
                    "patchbay_id": 2,
                    "unlinked_port_id": "dev-4-port-2",
                }
            ]
        }
    )
