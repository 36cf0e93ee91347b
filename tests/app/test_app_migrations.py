"""The committed migrations build exactly the schema the models describe, on SQLite and on
PostgreSQL, and upgrade a database that already holds users."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.extensions import db

FIRST_REVISION = "cd1979e5ad7b"


def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    if backend == "postgresql":
        return request.getfixturevalue("postgres").create_database("migrations")
    return f"sqlite:///{tmp_path / 'm.db'}"


# SQLite cannot reflect expression indexes, so there the unique lower(username) index is
# checked by what it does (below) rather than compared.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_matches_models_and_downgrades(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url(request, backend, tmp_path))
    app = create_app("testing")
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        assert {"user", "post", "followers"} <= set(sa.inspect(db.engine).get_table_names())
        insert = sa.text(
            'INSERT INTO "user" (username, email, password_hash, about_me, session_token,'
            " created_at, last_seen) VALUES (:name, :name, 'x', '', 't', CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)"
        )
        with db.engine.begin() as conn:
            conn.execute(insert, {"name": "Racer"})
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(insert, {"name": "racer"})
        downgrade(revision="base")
        assert "post" not in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_keeps_existing_users_and_settles_case_clashes(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accounts made before names were unique in any case: the oldest keeps its name."""
    monkeypatch.setenv("DATABASE_URL", database_url(request, backend, tmp_path))
    app = create_app("testing")
    with app.app_context():
        upgrade(revision=FIRST_REVISION)
        insert = sa.text(
            'INSERT INTO "user" (username, email, password_hash, about_me, created_at, last_seen)'
            " VALUES (:name, :email, 'x', '', CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP)"
        )
        with db.engine.begin() as conn:
            for name in ("Racer", "racer", "RACER", "alone"):
                conn.execute(insert, {"name": name, "email": f"{name}@example.com"})
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text('SELECT id, username, session_token FROM "user" ORDER BY id')
            ).all()
        names = [row.username for row in rows]
        assert names[0] == "Racer" and names[3] == "alone"
        assert len({name.lower() for name in names}) == 4
        assert names[1] == f"racer-{rows[1].id}" and names[2] == f"RACER-{rows[2].id}"
        tokens = [row.session_token for row in rows]
        assert all(len(token) == 64 for token in tokens) and len(set(tokens)) == 4
        db.engine.dispose()
