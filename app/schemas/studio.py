"""The whole studio as one JSON document (SPEC D6): what `GET /export` writes and
`POST /import` reads back, ids kept."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from app.models.bay import NormallingMode
from app.schemas.bay import ChannelNumber
from app.schemas.common import DbInt, StoredText
from app.schemas.port import PortTypeIn
from app.schemas.scene import SceneCable, SceneLink, SceneMode

FORMAT = "pepper-studio"
VERSION = 1
MAX_IMPORT_BYTES = 16 * 1024 * 1024
# Enough for any studio, and a bound on what one document can ask of the server.
MAX_ROWS = 100_000

_Strict = ConfigDict(extra="forbid")


def _written_as_text(value: object) -> object:
    # Pydantic would take a number as seconds since 1970; a document writes times as text.
    if not isinstance(value, str | datetime):
        raise ValueError("must be a date and time as text (RFC 3339)")
    return value


# With its offset: a time without one would be read in the server's time zone.
Time = Annotated[AwareDatetime, BeforeValidator(_written_as_text)]
# A row's own id: serial ids start at 1, and the API's paths take no other.
RowId = Annotated[DbInt, Field(ge=1)]


class StudioChannel(BaseModel):
    model_config = _Strict

    number: ChannelNumber
    mode: NormallingMode
    top_point_id: DbInt | None
    bottom_point_id: DbInt | None


class StudioBay(BaseModel):
    model_config = _Strict

    id: RowId
    name: StoredText
    description: StoredText = ""
    channels: list[StudioChannel] = Field(min_length=1, max_length=96)

    @model_validator(mode="after")
    def _numbered_from_one(self) -> Self:
        numbers = sorted(channel.number for channel in self.channels)
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"channels must be numbered 1 to {len(numbers)}, each once")
        return self


class StudioPoint(BaseModel):
    model_config = _Strict

    id: RowId
    name: StoredText
    description: StoredText = ""
    type: StoredText = "standard"


class StudioPort(BaseModel):
    model_config = _Strict

    id: Annotated[StoredText, Field(min_length=1)]
    label: StoredText
    type: PortTypeIn
    patchbay_id: DbInt | None


class StudioDevice(BaseModel):
    model_config = _Strict

    id: RowId
    name: StoredText
    type: StoredText
    last_port_number: Annotated[DbInt, Field(ge=0)] = Field(
        0, description="The highest port number the device ever gave out (never reused)."
    )
    ports: list[StudioPort] = Field(default_factory=list, max_length=MAX_ROWS)


class StudioCable(BaseModel):
    model_config = _Strict

    id: RowId
    points: list[DbInt] = Field(min_length=2, max_length=2, json_schema_extra={"uniqueItems": True})
    label: StoredText = ""
    color: StoredText | None = None


class StudioScene(BaseModel):
    model_config = _Strict

    id: RowId
    name: StoredText
    description: StoredText = ""
    created_at: Time
    updated_at: Time
    links: list[SceneLink] = Field(max_length=MAX_ROWS)
    cables: list[SceneCable] = Field(max_length=MAX_ROWS)
    modes: list[SceneMode] = Field(max_length=MAX_ROWS)


class StudioDocument(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "format": FORMAT,
                    "version": VERSION,
                    "exported_at": "2026-11-28T10:00:00+00:00",
                    "bays": [
                        {
                            "id": 1,
                            "name": "Bay A",
                            "description": "",
                            "channels": [
                                {
                                    "number": 1,
                                    "mode": "half-normal",
                                    "top_point_id": 1,
                                    "bottom_point_id": 2,
                                }
                            ],
                        }
                    ],
                    "patchbay_points": [
                        {"id": 1, "name": "Bay A 1T", "description": "", "type": "standard"},
                        {"id": 2, "name": "Bay A 1B", "description": "", "type": "standard"},
                    ],
                    "devices": [
                        {
                            "id": 1,
                            "name": "Juno-106",
                            "type": "Synth",
                            "last_port_number": 1,
                            "ports": [
                                {
                                    "id": "dev-1-port-1",
                                    "label": "OUT",
                                    "type": "Output",
                                    "patchbay_id": 1,
                                }
                            ],
                        }
                    ],
                    "cables": [],
                    "scenes": [],
                }
            ]
        },
    )

    format: Literal["pepper-studio"]
    version: Literal[1]
    exported_at: Time | None = None
    bays: list[StudioBay] = Field(default_factory=list, max_length=MAX_ROWS)
    patchbay_points: list[StudioPoint] = Field(default_factory=list, max_length=MAX_ROWS)
    devices: list[StudioDevice] = Field(default_factory=list, max_length=MAX_ROWS)
    cables: list[StudioCable] = Field(default_factory=list, max_length=MAX_ROWS)
    scenes: list[StudioScene] = Field(default_factory=list, max_length=MAX_ROWS)


class Counts(BaseModel):
    bays: int
    patchbay_points: int
    devices: int
    ports: int
    cables: int
    scenes: int


class ImportResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": True,
                    "revision": None,
                    "delete": {
                        "bays": 1,
                        "patchbay_points": 48,
                        "devices": 3,
                        "ports": 20,
                        "cables": 4,
                        "scenes": 1,
                    },
                    "create": {
                        "bays": 2,
                        "patchbay_points": 96,
                        "devices": 5,
                        "ports": 40,
                        "cables": 9,
                        "scenes": 2,
                    },
                }
            ]
        }
    )

    dry_run: bool
    revision: int | None = Field(
        description="The state revision after the import (null on a dry run)."
    )
    delete: Counts = Field(description="What is in the studio now, and goes.")
    create: Counts = Field(description="What the document holds, and comes.")
