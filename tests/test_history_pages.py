"""History that stays bounded (SPEC G): a page is under 1 MiB whatever its entries hold, large
entries are summarised and their changes paged at `GET /history/{revision}/changes`.

The large entries are what an import of 20,000 points leaves, typed as SQL in one transaction
(quicker than an import, and the same rows for the history). They commit for real."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.schemas.history import ChangePage, Entry, HistoryPage
from app.services import history
from tests.conftest import empty_tables
from tests.helpers import shaped

Api = TestClient
MIB = 1024 * 1024
POINTS = 20_000


def sql(engine: Engine, *statements: str) -> None:
    """Statements typed into pgAdmin, committed as one transaction."""
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def get(client: Api, url: str, model: Any, **params: Any) -> dict[str, Any]:
    """A body checked against its schema, and under 1 MiB as sent."""
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert len(response.content) < MIB
    body: dict[str, Any] = shaped(response, model)
    return body


def every_page(client: Api, **params: Any) -> list[dict[str, Any]]:
    pages, before = [], None
    while True:
        paged = {"before": before} if before is not None else {}
        page = get(client, "/history", HistoryPage, **params, **paged)
        pages.append(page)
        before = page["next_before"]
        if before is None:
            return pages


def every_change(client: Api, revision: int, **params: Any) -> list[list[dict[str, Any]]]:
    pages, after = [], 0
    while after is not None:
        page = get(client, f"/history/{revision}/changes", ChangePage, after=after, **params)
        assert page["revision"] == revision
        pages.append(page["changes"])
        after = page["next_after"]
    return pages


@pytest.fixture(scope="module")
def imports(app_client: Api, engine: Engine) -> Iterator[dict[str, int]]:
    """20,000 points added, replaced (deleted and made again with their ids, as an import
    does) and changed, each in one transaction; then a point added through the API."""
    empty_tables(engine)
    made = f"SELECT n, 'P' || n FROM generate_series(1, {POINTS}) AS n"
    sql(engine, f"INSERT INTO patchbay_points (id, name) {made}")
    sql(engine, "DELETE FROM patchbay_points", f"INSERT INTO patchbay_points (id, name) {made}")
    sql(engine, "UPDATE patchbay_points SET description = 'spare'")
    assert app_client.post("/patchbay-points", json={"name": "Late"}).status_code == 201
    revisions = [e["revision"] for e in get(app_client, "/history", HistoryPage)["entries"]]
    yield dict(zip(("late", "changed", "replaced", "added"), revisions, strict=True))
    empty_tables(engine)


def test_a_page_after_large_imports_is_small_and_reads_well(
    app_client: Api, imports: dict[str, int]
) -> None:
    page = get(app_client, "/history", HistoryPage, limit=50)
    entries = {entry["revision"]: entry for entry in page["entries"]}
    assert list(entries) == list(imports.values()) and page["next_before"] is None
    summaries = {name: entries[revision]["summary"] for name, revision in imports.items()}
    assert summaries == {
        "late": "Added point Late",
        "changed": "Changed 20,000 points",
        "replaced": "Replaced 20,000 points",
        "added": "Added 20,000 points",
    }
    counts = {name: entries[revision]["change_count"] for name, revision in imports.items()}
    assert counts == {"late": 1, "changed": POINTS, "replaced": 2 * POINTS, "added": POINTS}
    large = [entries[imports[name]] for name in ("changed", "replaced", "added")]
    assert all(len(entry["changes"]) == history.SHOWN_CHANGES for entry in large)
    # Its first changes, as they were made.
    assert [c["key"] for c in entries[imports["added"]]["changes"]] == list(range(1, 21))
    # One entry alone is bounded the same way, and is the page's.
    for revision, entry in entries.items():
        assert get(app_client, f"/history/{revision}", Entry) == entry


def test_a_page_stops_early_rather_than_count_too_many_changes(
    app_client: Api, imports: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a budget of one change, each page holds one large entry (and the small ones
    before it), and `next_before` leads on to the rest, each entry once."""
    monkeypatch.setattr(history, "SCAN_BUDGET", 1)
    pages = every_page(app_client, limit=50)
    assert [[e["revision"] for e in page["entries"]] for page in pages] == [
        [imports["late"], imports["changed"]],
        [imports["replaced"]],
        [imports["added"]],
    ]


def test_the_changes_of_a_large_entry_page_through_once_each(
    app_client: Api, imports: dict[str, int]
) -> None:
    pages = every_change(app_client, imports["added"], limit=1000)
    assert [len(page) for page in pages] == [1000] * 20
    keys = [change["key"] for page in pages for change in page]
    assert keys == list(range(1, POINTS + 1))
    assert all(c["op"] == "insert" and c["before"] is None for page in pages for c in page)


def test_a_large_entry_reverts_and_answers_a_small_entry(
    app_client: Api, imports: dict[str, int]
) -> None:
    response = app_client.post(f"/history/{imports['changed']}/revert")
    assert response.status_code == 200, response.text
    assert len(response.content) < MIB
    entry = shaped(response, Entry)
    assert entry["summary"] == f"Revert of revision {imports['changed']}: Changed 20,000 points"
    assert entry["change_count"] == POINTS
    point = app_client.get("/patchbay-points/1").json()
    assert point["description"] == ""


def test_large_rows_make_short_pages(committing_client: Api, engine: Engine) -> None:
    """Rows whose JSON is large (long non-ASCII descriptions, which the answer escapes): pages
    of entries and of changes end early, and still every entry and change comes once."""
    client = committing_client
    # Three rows of about 200 KB and one of 720 KB.
    sql(
        engine,
        "INSERT INTO patchbay_points (name, description) SELECT 'Long ' || n, "
        "repeat('音', CASE WHEN n = 4 THEN 240000 ELSE 68000 END) FROM generate_series(1, 4) AS n",
    )
    [entry] = get(client, "/history", HistoryPage)["entries"]
    assert (entry["summary"], entry["change_count"], entry["changes"]) == ("Added 4 points", 4, [])
    pages = every_change(client, entry["revision"])
    assert [[c["after"]["name"] for c in page] for page in pages] == [
        ["Long 1", "Long 2"],
        ["Long 3"],
        ["Long 4"],
    ]
    # Thirty entries of twenty rows, each too large to show them all.
    points = ", ".join(str(n) for n in range(101, 121))
    sql(
        engine,
        f"INSERT INTO patchbay_points (id, name) SELECT n, 'P' || n FROM unnest(ARRAY[{points}]) n",
    )
    for n in range(30):
        sql(
            engine,
            f"UPDATE patchbay_points SET description = '{n}' || repeat('é', 3000) WHERE id > 100",
        )
    pages = every_page(client, limit=500)
    revisions = [e["revision"] for page in pages for e in page["entries"]]
    assert len(pages) > 1 and len(revisions) == len(set(revisions)) == 32
    assert revisions == sorted(revisions, reverse=True)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "x"},
        {"after": -1},
        {"after": 2**63},
        {"after": "first"},
    ],
)
def test_bad_change_paging_is_422(committing_client: Api, params: dict[str, Any]) -> None:
    assert committing_client.post("/patchbay-points", json={"name": "A"}).status_code == 201
    revision = get(committing_client, "/history", HistoryPage)["entries"][0]["revision"]
    response = committing_client.get(f"/history/{revision}/changes", params=params)
    assert response.status_code == 422, response.text


def test_changes_of_an_unknown_entry_are_404(committing_client: Api) -> None:
    response = committing_client.get("/history/999999/changes")
    assert (response.status_code, response.json()) == (404, {"detail": "History entry not found"})
    assert committing_client.get("/history/0/changes").status_code == 422
