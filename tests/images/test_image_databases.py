"""MariaDB and PostgreSQL images: first start initialises the volume, db/user exist, a restart on the same volume
keeps the data and re-applies the env idempotently (a changed password takes effect, the old one stops working)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.images

MARIADB_ENV = {
    "MARIADB_ROOT_PASSWORD": "r00t'\\pw\"x",
    "MARIADB_DATABASE": "store_db",
    "MARIADB_USER": "store",
    "MARIADB_PASSWORD": "pa'ss\\wo`rd",
}


def _mariadb_sql(pod, container: str, user: str, password: str, sql: str):
    """Runs SQL over TCP 127.0.0.1 as user; the password goes in on stdin, then to MYSQL_PWD, never argv."""
    script = 'IFS= read -r pw; MYSQL_PWD="$pw" exec mariadb -h 127.0.0.1 -P 3306 -u "$1" -N -B -e "$2"'
    return pod.exec(container, "sh", "-c", script, "sh", user, sql, stdin=password + "\n")


def _wait_mariadb(pod, container: str, password: str) -> None:
    pod.wait_for(
        container,
        lambda: _mariadb_sql(pod, container, "root", password, "SELECT 1").returncode == 0,
        "MariaDB accepting root over TCP",
    )


def test_mariadb_initialises_then_restarts_idempotently(load_image, pod, volume):
    ref = load_image("mariadb")
    data = volume("mysql", 999)
    first = pod.run(ref, "db", MARIADB_ENV, {data: "/var/lib/mysql"})
    _wait_mariadb(pod, first, MARIADB_ENV["MARIADB_ROOT_PASSWORD"])

    assert pod.exec(first, "id", "-u").stdout.strip() == "999"
    assert pod.exec(first, "sh", "-c", "command -v mariadb mariadb-admin").returncode == 0
    made = _mariadb_sql(
        pod,
        first,
        "store",
        MARIADB_ENV["MARIADB_PASSWORD"],
        "CREATE TABLE store_db.t (v INT); INSERT INTO store_db.t VALUES (42); SELECT DATABASE()",
    )
    assert made.returncode == 0, made.stderr
    wrong = _mariadb_sql(pod, first, "store", "not-the-password", "SELECT 1")
    assert wrong.returncode != 0 and "Access denied" in wrong.stderr
    # The app user sees its database only.
    dbs = _mariadb_sql(pod, first, "store", MARIADB_ENV["MARIADB_PASSWORD"], "SHOW DATABASES").stdout.split()
    assert "store_db" in dbs and "mysql" not in dbs
    assert "initialising /var/lib/mysql" in pod.logs(first)

    # Same volume, new container, rotated user password: data kept, no second initialisation, new password only.
    pod.remove(first)
    rotated = {**MARIADB_ENV, "MARIADB_PASSWORD": "rotated-Pw-2"}
    second = pod.run(ref, "db2", rotated, {data: "/var/lib/mysql"})
    _wait_mariadb(pod, second, rotated["MARIADB_ROOT_PASSWORD"])
    kept = _mariadb_sql(pod, second, "store", "rotated-Pw-2", "SELECT v FROM store_db.t")
    assert kept.returncode == 0 and kept.stdout.split() == ["42"], kept.stderr
    assert _mariadb_sql(pod, second, "store", MARIADB_ENV["MARIADB_PASSWORD"], "SELECT 1").returncode != 0
    assert "initialising" not in pod.logs(second)
    users = _mariadb_sql(
        pod, second, "root", rotated["MARIADB_ROOT_PASSWORD"], "SELECT COUNT(*) FROM mysql.user WHERE User = 'store'"
    )
    assert users.stdout.split() == ["1"]


def test_mariadb_without_root_password_refuses_to_start_and_leaves_volume_empty(load_image, pod, volume):
    ref = load_image("mariadb")
    data = volume("mysql", 999)
    container = pod.run(ref, "db", {"MARIADB_DATABASE": "x"}, {data: "/var/lib/mysql"})
    assert pod.wait_exit(container) == 1
    assert "MARIADB_ROOT_PASSWORD must be set" in pod.logs(container)
    assert list(data.iterdir()) == []


POSTGRES_ENV = {"POSTGRES_USER": "medusa", "POSTGRES_PASSWORD": "p@ss:w'o\\rd", "POSTGRES_DB": "medusa_db"}


def _psql(pod, container: str, user: str, password: str, db: str, sql: str):
    script = 'IFS= read -r pw; PGPASSWORD="$pw" exec psql -X -q -h 127.0.0.1 -U "$1" -d "$2" -At -c "$3"'
    return pod.exec(container, "sh", "-c", script, "sh", user, db, sql, stdin=password + "\n")


def test_postgres_initialises_then_restarts_idempotently(load_image, pod, volume):
    ref = load_image("postgres")
    data = volume("pg", 999)
    first = pod.run(ref, "pg", POSTGRES_ENV, {data: "/var/lib/postgresql/data"})
    pod.wait_for(
        first,
        lambda: _psql(pod, first, "medusa", POSTGRES_ENV["POSTGRES_PASSWORD"], "medusa_db", "SELECT 1").returncode == 0,
        "PostgreSQL accepting medusa over TCP",
    )

    assert pod.exec(first, "id", "-u").stdout.strip() == "999"
    assert pod.exec(first, "pg_isready", "-h", "127.0.0.1", "-p", "5432").returncode == 0
    assert (data / "pgdata" / "PG_VERSION").read_text().strip() == "15"
    made = _psql(
        pod,
        first,
        "medusa",
        POSTGRES_ENV["POSTGRES_PASSWORD"],
        "medusa_db",
        "CREATE TABLE t (v int); INSERT INTO t VALUES (7); SELECT current_database()",
    )
    assert made.returncode == 0 and made.stdout.split() == ["medusa_db"], made.stderr
    wrong = _psql(pod, first, "medusa", "nope", "medusa_db", "SELECT 1")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr

    pod.remove(first)
    rotated = {**POSTGRES_ENV, "POSTGRES_PASSWORD": "rotated-2"}
    second = pod.run(ref, "pg2", rotated, {data: "/var/lib/postgresql/data"})
    pod.wait_for(
        second,
        lambda: _psql(pod, second, "medusa", "rotated-2", "medusa_db", "SELECT 1").returncode == 0,
        "PostgreSQL accepting the rotated password",
    )
    assert _psql(pod, second, "medusa", "rotated-2", "medusa_db", "SELECT v FROM t").stdout.split() == ["7"]
    assert _psql(pod, second, "medusa", POSTGRES_ENV["POSTGRES_PASSWORD"], "medusa_db", "SELECT 1").returncode != 0
    assert "initialising" not in pod.logs(second)
