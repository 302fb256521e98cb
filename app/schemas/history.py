from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

_CHANGE: dict[str, JsonValue] = {
    "table": "ports",
    "key": "dev-1-port-2",
    "op": "update",
    "before": {"id": "dev-1-port-2", "label": "OUT L", "patchbay_id": None},
    "after": {"id": "dev-1-port-2", "label": "OUT L", "patchbay_id": 3},
}
_ENTRY: dict[str, JsonValue] = {
    "revision": 42,
    "at": "2026-11-28T10:00:00.123456+00:00",
    "source": "api",
    "request_id": "6f1c2d9a0b7e4c55a1d2e3f405162738",
    "actor": "alice",
    "summary": "Linked Juno-106 OUT L to Bay A 2T",
    "changes": [_CHANGE],
    "change_count": 1,
}


class Change(BaseModel):
    table: str = Field(description="The PostgreSQL table.")
    key: Any = Field(description="The row's primary key: a value, or an object of its columns.")
    op: Literal["insert", "update", "delete"]
    before: dict[str, Any] | None = Field(description="The row before (null for an insert).")
    after: dict[str, Any] | None = Field(description="The row after (null for a delete).")


class Entry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ENTRY]})

    revision: int = Field(description="The state revision the transaction produced.")
    at: datetime
    source: Literal["api", "sql"] = Field(description="Through the API, or SQL (pgAdmin).")
    request_id: str | None = Field(description="The API request's X-Request-ID.")
    actor: str | None = Field(description="The name of the API key, with named keys.")
    summary: str = Field(description="One line, naming things by their names.")
    changes: list[Change] = Field(
        description="The first changes, in the order they were made: all of them unless "
        "`change_count` says there are more (then `GET /history/{revision}/changes` has them)."
    )
    change_count: int = Field(
        description="How many changes the entry recorded (a row deleted and made again, as an "
        "import does, counts twice)."
    )


class HistoryPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"entries": [_ENTRY], "next_before": 42}]}
    )

    entries: list[Entry] = Field(description="Newest first.")
    next_before: int | None = Field(
        description="Pass as `before` for the next page; null when no more remain."
    )


class ChangePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"revision": 42, "changes": [_CHANGE], "next_after": 917}]}
    )

    revision: int = Field(description="The entry's revision.")
    changes: list[Change] = Field(description="In the order they were made.")
    next_after: int | None = Field(
        description="Pass as `after` for the next page; null when no more remain."
    )


class RevertConflict(BaseModel):
    table: str = Field(description="The PostgreSQL table.")
    key: Any = Field(description="The row's primary key (null when PostgreSQL names no row).")
    expected: dict[str, Any] | None = Field(description="The row as the entry left it.")
    now: dict[str, Any] | None = Field(description="The row as it is now (null: gone).")
    reason: str = Field(description="Why the row stands in the way.")


class RevertRefused(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "Later changes conflict with this revert",
                    "conflicts": [
                        {
                            "table": "ports",
                            "key": "dev-1-port-2",
                            "expected": _CHANGE["after"],
                            "now": {"id": "dev-1-port-2", "label": "OUT LEFT", "patchbay_id": 3},
                            "reason": "changed since the entry",
                        }
                    ],
                }
            ]
        }
    )

    detail: str
    conflicts: list[RevertConflict] = Field(
        default_factory=list, description="The rows in the way (none when nothing is to revert)."
    )
