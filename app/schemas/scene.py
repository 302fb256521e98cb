from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.json_schema import SkipJsonSchema

from app.models.bay import NormallingMode
from app.schemas.checks import Finding
from app.schemas.common import DbInt, Description, Name, PatchModel, StoredText, left_out


class SceneCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Tracking", "description": "Monday: drums into the desk"}]
        },
    )

    name: Name
    description: Description = ""


class SceneUpdate(PatchModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Mixing (Tuesday)"}]})

    name: Name | SkipJsonSchema[None] = left_out()
    description: Description | SkipJsonSchema[None] = left_out()


# What a scene holds (also read back by POST /import, so strict about it).
class SceneLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port_id: StoredText
    patchbay_id: DbInt | None


class SceneCable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: list[DbInt] = Field(min_length=2, max_length=2)
    label: StoredText
    color: StoredText | None


class SceneMode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bay_id: DbInt
    channel: DbInt
    mode: NormallingMode


class SceneCounts(BaseModel):
    links: int
    cables: int
    modes: int


class SceneSummary(BaseModel):
    id: int
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    counts: SceneCounts


class SceneRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "name": "Tracking",
                    "description": "",
                    "created_at": "2026-11-28T10:00:00+00:00",
                    "updated_at": "2026-11-28T10:00:00+00:00",
                    "links": [{"port_id": "dev-1-port-2", "patchbay_id": 3}],
                    "cables": [{"points": [4, 9], "label": "Juno to comp", "color": "red"}],
                    "modes": [{"bay_id": 1, "channel": 1, "mode": "half-normal"}],
                }
            ]
        }
    )

    id: int
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    links: list[SceneLink] = Field(description="Every port, with the point it holds or null.")
    cables: list[SceneCable]
    modes: list[SceneMode]


# --- The patch sheet ------------------------------------------------------------------------
class _Step(BaseModel):
    text: str = Field(description="What to do, naming things by their names.")


class Unplug(_Step):
    action: Literal["unplug"]
    cable_id: int
    points: list[int]


class Unlink(_Step):
    action: Literal["unlink"]
    port_id: str
    patchbay_id: int = Field(description="The point the port leaves.")


class SetMode(_Step):
    action: Literal["set-mode"]
    bay_id: int
    channel: int
    mode: NormallingMode


class Link(_Step):
    action: Literal["link"]
    port_id: str
    patchbay_id: int


class Plug(_Step):
    action: Literal["plug"]
    points: list[int]
    label: str
    color: str | None


class Relabel(_Step):
    action: Literal["relabel"]
    cable_id: int
    label: str
    color: str | None


Step = Annotated[Unplug | Unlink | SetMode | Link | Plug | Relabel, Field(discriminator="action")]


class Missing(BaseModel):
    ports: list[str]
    points: list[int]
    bays: list[int]


_SHEET_EXAMPLE: dict[str, JsonValue] = {
    "revision": 42,
    "steps": [
        {
            "action": "unplug",
            "cable_id": 7,
            "points": [3, 12],
            "text": "Unplug the cable between Bay A 2T and Bay B 6B",
        },
        {
            "action": "link",
            "port_id": "dev-1-port-2",
            "patchbay_id": 3,
            "text": "Link Juno-106 OUT L to Bay A 2T",
        },
    ],
    "missing": {"ports": [], "points": [], "bays": []},
    "findings": [],
}


class PatchSheet(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SHEET_EXAMPLE]})

    revision: int = Field(description="The state revision the sheet was worked out from.")
    steps: list[Step] = Field(description="In the order a person works; empty: nothing to do.")
    missing: Missing = Field(description="What the scene refers to that no longer exists.")
    findings: list[Finding] = Field(
        description="The findings of the studio as the apply would leave it (see GET /checks)."
    )


class Applied(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"revision": 43, "steps": _SHEET_EXAMPLE["steps"]}]}
    )

    revision: int = Field(description="The state revision after the apply.")
    steps: list[Step] = Field(description="The steps applied.")
