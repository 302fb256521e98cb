from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.models.bay import NormallingMode
from app.schemas.cable import CableCreate
from app.schemas.common import MAX_ITEMS, DbInt, PortId, StoredText

_PHANTOM: dict[str, JsonValue] = {
    "check": "phantom",
    "severity": "danger",
    "port_ids": ["dev-3-port-1", "dev-4-port-3"],
    "point_ids": [5, 6],
    "text": "+48 V from Desk MIC 3 reaches Ribbon mic OUT through Bay A 3T",
}
_SILENCED: dict[str, JsonValue] = {
    "check": "silenced",
    "severity": "notice",
    "port_ids": ["dev-4-port-1"],
    "point_ids": [2],
    "text": "Nothing feeds Desk CH 1: its house normal from Juno-106 OUT L (Bay A 1T) is broken",
}


class Finding(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PHANTOM]})

    check: Literal["phantom", "speaker", "level", "feedback", "conflict", "silenced"]
    severity: Literal["danger", "warning", "notice"]
    port_ids: list[str] = Field(description="Outputs first, then inputs, each in /state order.")
    point_ids: list[int] = Field(description="The points of the net involved.")
    text: str = Field(description="What is wrong, naming things by name.")


class Checks(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"revision": 42, "findings": [_PHANTOM, _SILENCED]}]}
    )

    revision: int = Field(description="The state revision judged (the ETag's).")
    findings: list[Finding] = Field(
        description="By severity (danger, warning, notice), check, then first port."
    )


# --- A preview's steps: D4's shapes, `text`, `label` and `color` optional ----------------------
class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StoredText | None = Field(default=None, description="Ignored (a sheet's own words).")


class Unplug(_Step):
    action: Literal["unplug"]
    cable_id: DbInt
    points: list[DbInt] = Field(min_length=2, max_length=2, description="Its jacks (ignored).")


class Unlink(_Step):
    action: Literal["unlink"]
    port_id: PortId
    patchbay_id: DbInt | None = Field(description="The point it leaves (ignored).")


class SetMode(_Step):
    action: Literal["set-mode"]
    bay_id: DbInt
    channel: DbInt
    mode: NormallingMode


class Link(_Step):
    action: Literal["link"]
    port_id: PortId
    patchbay_id: DbInt


class Plug(CableCreate):
    """A cable plugged as `POST /cables` would plug it."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"action": "plug", "points": [3, 10]}]}
    )

    action: Literal["plug"]
    text: StoredText | None = Field(default=None, description="Ignored (a sheet's own words).")


StepIn = Annotated[Unplug | Unlink | SetMode | Link | Plug, Field(discriminator="action")]


class PreviewRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"steps": [{"action": "plug", "points": [5, 12]}]},
                {
                    "steps": [
                        {"action": "unplug", "cable_id": 7, "points": [3, 12]},
                        {"action": "link", "port_id": "dev-3-port-1", "patchbay_id": 5},
                        {"action": "set-mode", "bay_id": 1, "channel": 3, "mode": "normal"},
                    ]
                },
            ]
        },
    )

    steps: list[StepIn] = Field(
        min_length=1, max_length=MAX_ITEMS, description="Carried out in order, on a copy."
    )


class Preview(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"revision": 42, "findings": [_PHANTOM], "new": [_PHANTOM]}]
        }
    )

    revision: int = Field(description="The state revision the steps were tried on.")
    findings: list[Finding] = Field(
        description="The findings of the nets the steps touch, as the steps would leave them."
    )
    new: list[Finding] = Field(description="Those of `findings` that are not there now.")
