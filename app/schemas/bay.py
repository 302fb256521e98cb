from typing import Annotated, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.models.bay import NormallingMode
from app.schemas.common import (
    MAX_CHANNELS,
    BayName,
    DbInt,
    Description,
    PatchModel,
    integer_not_bool_or_text,
    left_out,
)

ChannelNumber = Annotated[
    int, Field(ge=1, le=MAX_CHANNELS), BeforeValidator(integer_not_bool_or_text)
]


class BayCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Bay A", "channels": 24, "mode": "half-normal"}]},
    )

    name: BayName
    description: Description = ""
    channels: ChannelNumber = Field(description="How many channels, numbered from 1.")
    mode: NormallingMode = Field(
        NormallingMode.HALF_NORMAL, description="The normalling of every channel."
    )
    create_points: StrictBool = Field(
        True,
        description='Also create a point per jack, named "{name} {n}T" and "{name} {n}B", '
        "put in their slots channel by channel.",
    )


class ChannelRead(BaseModel):
    number: int
    mode: NormallingMode
    top_point_id: int | None
    bottom_point_id: int | None


class BayRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
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
                        },
                        {"number": 2, "mode": "thru", "top_point_id": 3, "bottom_point_id": None},
                    ],
                }
            ]
        }
    )

    id: int
    name: str
    description: str
    channels: list[ChannelRead]


class BayUpdate(PatchModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Bay A (drums)"}]})

    name: BayName | SkipJsonSchema[None] = left_out()
    description: Description | SkipJsonSchema[None] = left_out()


class ChannelModes(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"first": 1, "last": 8, "mode": "normal"}, {"first": 5, "mode": "thru"}]
        },
    )

    first: ChannelNumber
    last: ChannelNumber | None = Field(None, description="Defaults to `first` (so does null).")
    mode: NormallingMode

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.last is not None and self.last < self.first:
            raise ValueError("last must not be less than first")
        return self

    @property
    def channels(self) -> tuple[int, int]:
        return self.first, self.last if self.last is not None else self.first


class ChannelSlots(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"top_point_id": 7, "bottom_point_id": 8}, {"top_point_id": None}]
        },
    )

    top_point_id: DbInt | None = Field(None, description="The point for the top jack, or null.")
    bottom_point_id: DbInt | None = Field(
        None, description="The point for the bottom jack, or null."
    )

    @model_validator(mode="after")
    def _two_jacks(self) -> Self:
        if self.top_point_id is not None and self.top_point_id == self.bottom_point_id:
            raise ValueError("a point can be one jack only")
        return self
