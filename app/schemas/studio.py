"""The whole studio as one JSON document (SPEC D6): what `GET /export` writes and
`POST /import` reads back, ids kept; and the bounds of one import (SPEC G)."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    model_validator,
)

from app.models.bay import NormallingMode
from app.models.electrical import Level
from app.schemas.bay import ChannelNumber
from app.schemas.common import INT32_MAX, StoredText, integer_not_bool_or_text
from app.schemas.port import PortTypeIn
from app.schemas.scene import SceneCable, SceneLink, SceneMode

FORMAT = "pepper-studio"
VERSION = 1
MAX_IMPORT_BYTES = 16 * 1024 * 1024

# What one import may hold (SPEC G: at least 20,000 points within 16 MiB): twice a studio of
# 20,000 points in bays, with a port on every point, every jack plugged and a few scenes. Past a
# bound a document is refused (413) as it is read, before the studio is locked; the bounds keep
# an import's memory, its time under the studio lock (every row it writes is recorded in the
# history) and its history entry in proportion. Each is declared as its list's `maxItems` too.
MAX_POINTS = 40_000
MAX_BAYS = 1_000
MAX_CHANNELS = 20_000  # in all the bays together: every point of MAX_POINTS in a slot
MAX_DEVICES = 10_000
MAX_PORTS = 40_000  # of all the devices together: a port on every point
MAX_CABLES = 20_000  # every jack of MAX_POINTS plugged
MAX_SCENES = 1_000
# Links, cables and modes of all the scenes together: five captures of a studio of 20,000
# points, 20,000 ports, 10,000 cables and 10,000 channels.
MAX_SCENE_ITEMS = 200_000

_Strict = ConfigDict(extra="forbid")


def _written_as_text(value: object) -> object:
    # Pydantic would take a number as seconds since 1970; a document writes times as text.
    if not isinstance(value, str | datetime):
        raise ValueError("must be a date and time as text (RFC 3339)")
    return value


# With its offset: a time without one would be read in the server's time zone.
Time = Annotated[AwareDatetime, BeforeValidator(_written_as_text)]
# A row's id, and a reference to one: serial ids start at 1, and PostgreSQL's `integer` ends at
# 2^31-1. Declared in one Field, so that the schema says `minimum: 1` and nothing else.
RowId = Annotated[int, Field(ge=1, le=INT32_MAX), BeforeValidator(integer_not_bool_or_text)]


class StudioChannel(BaseModel):
    model_config = _Strict

    number: ChannelNumber
    mode: NormallingMode
    top_point_id: RowId | None
    bottom_point_id: RowId | None


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
    patchbay_id: RowId | None


# A device and a scene without their lists: the import reads those lists an item at a time.
class StudioElectrical(BaseModel):
    """A port's electrical values (SPEC E1); a port the document gives none has the defaults."""

    model_config = _Strict

    port_id: Annotated[StoredText, Field(min_length=1)]
    level: Level | None = None
    phantom: StrictBool = False
    phantom_safe: StrictBool = True


class StudioDeviceFields(BaseModel):
    model_config = _Strict

    id: RowId
    name: StoredText
    type: StoredText
    last_port_number: Annotated[
        int, Field(ge=0, le=INT32_MAX), BeforeValidator(integer_not_bool_or_text)
    ] = Field(0, description="The highest port number the device ever gave out (never reused).")


class StudioDevice(StudioDeviceFields):
    ports: list[StudioPort] = Field(default_factory=list, max_length=MAX_PORTS)


class StudioCable(BaseModel):
    model_config = _Strict

    id: RowId
    points: list[RowId] = Field(min_length=2, max_length=2, json_schema_extra={"uniqueItems": True})
    label: StoredText = ""
    color: StoredText | None = None


class StudioSceneFields(BaseModel):
    model_config = _Strict

    id: RowId
    name: StoredText
    description: StoredText = ""
    created_at: Time
    updated_at: Time


# The links, cables and modes of all the scenes together are bounded (MAX_SCENE_ITEMS).
class StudioScene(StudioSceneFields):
    links: list[SceneLink]
    cables: list[SceneCable]
    modes: list[SceneMode]


class StudioDocumentFields(BaseModel):
    model_config = _Strict

    format: Literal["pepper-studio"]
    version: Literal[1]
    exported_at: Time | None = None


class StudioDocument(StudioDocumentFields):
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

    bays: list[StudioBay] = Field(default_factory=list, max_length=MAX_BAYS)
    patchbay_points: list[StudioPoint] = Field(default_factory=list, max_length=MAX_POINTS)
    devices: list[StudioDevice] = Field(default_factory=list, max_length=MAX_DEVICES)
    cables: list[StudioCable] = Field(default_factory=list, max_length=MAX_CABLES)
    scenes: list[StudioScene] = Field(default_factory=list, max_length=MAX_SCENES)
    # Optional: a document of a version without it still imports (every port at the defaults).
    electrical: list[StudioElectrical] = Field(default_factory=list, max_length=MAX_PORTS)


class Counts(BaseModel):
    bays: int
    patchbay_points: int
    devices: int
    ports: int
    cables: int
    scenes: int
    electrical: int = Field(description="Ports whose electrical values the import sets")


class ImportResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": True,
                    "revision": None,
                    "delete": {
                        "bays": 0,
                        "patchbay_points": 2,
                        "devices": 1,
                        "ports": 3,
                        "cables": 1,
                        "scenes": 0,
                        "electrical": 0,
                    },
                    "create": {
                        "bays": 1,
                        "patchbay_points": 48,
                        "devices": 2,
                        "ports": 12,
                        "cables": 3,
                        "scenes": 1,
                        "electrical": 0,
                    },
                    "update": {
                        "bays": 1,
                        "patchbay_points": 4,
                        "devices": 0,
                        "ports": 2,
                        "cables": 1,
                        "scenes": 0,
                        "electrical": 0,
                    },
                }
            ]
        }
    )

    dry_run: bool
    revision: int | None = Field(
        description="The state revision after the import (null on a dry run); the revision "
        "the studio was already at when the document changed nothing."
    )
    delete: Counts = Field(description="What is in the studio and not in the document: it goes.")
    create: Counts = Field(description="What is in the document and not in the studio: it comes.")
    update: Counts = Field(
        description="What is in both and differs, and takes the document's values: a bay's "
        "name, description, channels or modes; a point's name, description, type or slot; a "
        "device's name or type (or a higher `last_port_number`); a port's device, label, type "
        "or point; a cable's points, label or color; a scene's fields or content. What is in "
        "both as it is stays untouched (ids, creation times and port order kept)."
    )
