"""The request owns the transaction: committed before the response, rolled back on error."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import JSON

FAIL_AT_COMMIT = "fail-at-commit"


@pytest.fixture
def commit_fails_for_a_name(engine: Engine) -> Iterator[None]:
    """A deferred constraint trigger: the INSERT succeeds, the COMMIT fails."""
    with engine.begin() as conn:
        conn.execute(
            text(
                f"""
                CREATE FUNCTION test_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.name = '{FAIL_AT_COMMIT}' THEN
                        RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NULL;
                END $$;
                CREATE CONSTRAINT TRIGGER test_fail_at_commit AFTER INSERT ON devices
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_fail_at_commit();
                """
            )
        )
    yield
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER test_fail_at_commit ON devices"))
        conn.execute(text("DROP FUNCTION test_fail_at_commit()"))


def test_a_failed_commit_is_never_a_2xx(
    committing_client: TestClient, engine: Engine, commit_fails_for_a_name: None
) -> None:
    response = committing_client.post(
        "/devices",
        json={"name": FAIL_AT_COMMIT, "type": "Synth", "ports": [{"label": "A", "type": "Input"}]},
    )
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal Server Error",
        "request_id": response.headers["x-request-id"],
    }
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM devices")) == 0
        assert conn.scalar(text("SELECT count(*) FROM ports")) == 0
    ok = committing_client.post("/devices", json={"name": "fine", "type": "Synth"}, headers=JSON)
    assert ok.status_code == 201


def test_a_successful_request_is_committed(committing_client: TestClient, engine: Engine) -> None:
    response = committing_client.post("/devices", json={"name": "kept", "type": "Synth"})
    assert response.status_code == 201
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT name FROM devices")) == "kept"


def test_an_error_rolls_back_what_the_request_did(
    committing_client: TestClient, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patchbay_points (id, name) VALUES (1, 'A')"))
    # Nothing of a refused request is left behind.
    response = committing_client.post(
        "/devices",
        json={
            "name": "X",
            "type": "Synth",
            "ports": [
                {"label": "A", "type": "Input", "patchbay_id": 1},
                {"label": "B", "type": "Input", "patchbay_id": 2},
            ],
        },
    )
    assert response.status_code == 404
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM devices")) == 0
