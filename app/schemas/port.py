from collections import Counter
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.models.port import PortType
from app.schemas.common import MAX_ITEMS, DbInt, Name, PatchModel, PortId, left_out


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


class PortUpdate(PatchModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"label": "MIDI IN A", "type": "Input"}]}
    )

    label: Name | SkipJsonSchema[None] = left_out()
    type: PortTypeIn | SkipJsonSchema[None] = left_out()


class BulkLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port_id: PortId
    patchbay_id: DbInt | None = Field(
        description="The point to link the port to, or null to unlink it."
    )


class BulkLinkRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "links": [
                        {"port_id": "dev-1-port-1", "patchbay_id": 1},
                        {"port_id": "dev-1-port-2", "patchbay_id": 2},
                        {"port_id": "dev-2-port-1", "patchbay_id": None},
                    ]
                }
            ]
        },
    )

    links: list[BulkLink] = Field(min_length=1, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _each_port_and_point_once(self) -> Self:
        ports = Counter(link.port_id for link in self.links)
        points = Counter(link.patchbay_id for link in self.links if link.patchbay_id is not None)
        twice = [str(key) for key, n in (ports + points).items() if n > 1]
        if twice:
            raise ValueError(
                f"each port and each point may appear once; repeated: {', '.join(twice)}"
            )
        return self


class BulkLinkResult(BaseModel):
    ports: list[PortRead] = Field(
        description="Every port of the request, as it is now, in request order."
    )
    unlinked_port_ids: list[str] = Field(
        description="Ports not in the request that lost their point to it, sorted."
    )
