from pydantic import BaseModel, ConfigDict, Field, JsonValue

_ROUTE: dict[str, JsonValue] = {
    "from_port_id": "dev-1-port-2",
    "to_port_id": "dev-4-port-1",
    "via": [3, 4],
}


class Route(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ROUTE]})

    from_port_id: str = Field(description="The output.")
    to_port_id: str = Field(description="The input it reaches.")
    via: list[int] = Field(
        description="Points from the output's point to the input's, along a shortest path."
    )


class Conflict(BaseModel):
    port_ids: list[str] = Field(description="The outputs that meet in one net.")
    point_ids: list[int] = Field(description="Every point of that net.")


class SignalFlow(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "routes": [_ROUTE],
                    "conflicts": [
                        {"port_ids": ["dev-1-port-2", "dev-2-port-1"], "point_ids": [3, 4, 9]}
                    ],
                }
            ]
        }
    )

    routes: list[Route]
    conflicts: list[Conflict]


class PortSignal(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"port_id": "dev-1-port-2", "feeds": [_ROUTE], "fed_by": []}]
        }
    )

    port_id: str
    feeds: list[Route] = Field(description="Routes from this port, if it is an output.")
    fed_by: list[Route] = Field(description="Routes to this port, if it is an input.")
