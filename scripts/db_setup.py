"""Give the API its own PostgreSQL role: `python -m scripts.db_setup` (compose service `db-setup`).

Runs before every start of the API, connected as the PostgreSQL superuser through the libpq
variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). It creates or updates the API's role
(PEPPER_DB_USER, default `pepper_api`): a login with no superuser powers that owns schema public
and everything in it, so that it can run Alembic's migrations, and nothing more.

The role's password is PEPPER_DB_PASSWORD when set. Otherwise one is generated once and kept in
the libpq password file PEPPER_DB_PASSFILE (on a volume the API reads), so the superuser's
password never reaches the API.

Idempotent, and fine on a database of the earlier service, whose tables the bootstrap superuser
owns: REASSIGN OWNED cannot move objects of that role, so each object is given away by its own
ALTER ... OWNER TO. Objects the role already owns are left alone (no locks taken on a re-run).
"""

import os
import secrets
import sys
from pathlib import Path
from typing import NoReturn

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

# The example passwords of .env.example. A deployment that still uses one is stopped here.
PLACEHOLDERS = frozenset({"change-me", "change-me-too"})
# Where each password checked for a placeholder comes from, as .env names it.
PASSWORDS = {
    "PGPASSWORD": "POSTGRES_PASSWORD",
    "PEPPER_DB_PASSWORD": "PEPPER_DB_PASSWORD",
    "PGADMIN_DEFAULT_PASSWORD": "PGADMIN_DEFAULT_PASSWORD",
}
ROLE_OPTIONS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"

# Objects of schema public that the role does not own yet, with the ALTER that gives each away.
# Names come out schema-qualified because the search path is emptied first. Left out: members of
# extensions, sequences that belong to a table column (ALTER TABLE moves them with their table),
# array and multirange types (they follow their base type) and row types of tables.
OBJECTS_TO_TAKE = """
WITH api AS (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                      WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
       c.oid::regclass::text
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND c.relowner <> (SELECT oid FROM api)
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype::text
  FROM pg_type t
 WHERE t.typnamespace = 'public'::regnamespace
   AND t.typowner <> (SELECT oid FROM api)
   AND (t.typtype IN ('e', 'd', 'r')
        OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT 'ROUTINE', p.oid::regprocedure::text
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND p.proowner <> (SELECT oid FROM api)
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def fail(message: str) -> NoReturn:
    print(f"db-setup: {message}", file=sys.stderr)
    raise SystemExit(1)


def refuse_placeholders() -> None:
    for variable, name in PASSWORDS.items():
        if os.environ.get(variable, "") in PLACEHOLDERS:
            fail(
                f"{name} is still the example's placeholder. Set a password of your own in .env "
                "(see the README: an existing database keeps its superuser password until you "
                "change it there too)."
            )


def pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def api_password(role: str) -> str:
    """PEPPER_DB_PASSWORD, else the generated password kept in PEPPER_DB_PASSFILE."""
    given = os.environ.get("PEPPER_DB_PASSWORD", "")
    if given:
        return given
    passfile = os.environ.get("PEPPER_DB_PASSFILE", "")
    if not passfile:
        fail("set PEPPER_DB_PASSWORD, or PEPPER_DB_PASSFILE to keep a generated password in")
    path = Path(passfile)
    # One line for any host, port and database: `*:*:*:role:password`.
    prefix = f"*:*:*:{pgpass_field(role)}:"
    if path.exists():
        line = path.read_text().strip()
        if line.startswith(prefix):
            return line.removeprefix(prefix)  # generated passwords hold no `:` or `\`
    password = secrets.token_urlsafe(32)
    # libpq ignores a password file that others can read.
    new = path.with_name(path.name + ".new")
    new.unlink(missing_ok=True)
    with os.fdopen(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(prefix + password + "\n")
    new.replace(path)
    print(f"db-setup: generated a password for {role} in {path}")
    return password


def set_up(conn: psycopg.Connection[TupleRow], role: str, password: str) -> None:
    name = sql.Identifier(role)
    if conn.info.user == role:
        fail(f"PEPPER_DB_USER ({role}) must not be the superuser that runs this setup")
    conn.execute("SELECT set_config('search_path', '', true)")
    conn.execute("SET LOCAL lock_timeout = '60s'")
    exists = conn.execute(
        "SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)
    ).fetchone() == (1,)
    # Hashed here as libpq does it (SCRAM, per the server's password_encryption), so the password
    # itself is never sent nor written to the server's log. Utility statements take no bind
    # parameters: the hash goes in as a quoted literal.
    hashed = conn.pgconn.encrypt_password(password.encode(), role.encode()).decode()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL(verb + " ROLE {} WITH " + ROLE_OPTIONS + " PASSWORD {}").format(
            name, sql.Literal(hashed)
        )
    )
    print(f"db-setup: role {role} {'updated' if exists else 'created'}")

    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(conn.info.dbname), name)
    )
    public_owner = conn.execute(
        "SELECT rolname FROM pg_namespace JOIN pg_roles ON pg_roles.oid = nspowner"
        " WHERE nspname = 'public'"
    ).fetchone()
    if public_owner != (role,):
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(name))
        print(f"db-setup: schema public now owned by {role}")
    taken = conn.execute(OBJECTS_TO_TAKE, {"role": role}).fetchall()
    for kind, identity in taken:
        conn.execute(
            sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), sql.SQL(identity), name)
        )
    print(f"db-setup: {len(taken)} objects in schema public now owned by {role}")


def main() -> None:
    refuse_placeholders()
    role = os.environ.get("PEPPER_DB_USER") or "pepper_api"
    password = api_password(role)
    # Everything else comes from the libpq variables: no URL, so no password needs escaping.
    with psycopg.connect("", application_name="pepper-db-setup") as conn:
        set_up(conn, role, password)
    print("db-setup: done")


if __name__ == "__main__":
    main()
