"""Database URLs: every form dbmate's postgres driver accepts, turned into libpq connection strings."""

from __future__ import annotations

import pytest

from orchestrator.dburl import DatabaseURL, default_host
from orchestrator.errors import ConfigError
from orchestrator.redaction import redact

NO_ENV: dict[str, str] = {}
SOCKET = default_host()

# (URL, conninfo with an empty environment, conninfo for pg_dump (search_path=False))
CASES = [
    # dbmate's own connection-string cases (pkg/driver/postgres/postgres_test.go)
    ("postgres:///foo", f"host='{SOCKET}' dbname='foo'", None),
    ("postgres://bob:secret@myhost:1234/foo?bar=baz",
     "host='myhost' port='1234' dbname='foo' user='bob' options='-c bar=baz'", None),
    ("postgres://bob:secret@myhost:1234/foo?host=new&port=9999",
     "host='new' port='9999' dbname='foo' user='bob'", None),
    ("postgres://bob:secret@myhost:1234/foo?port=9999&bar=baz",
     "host='myhost' port='9999' dbname='foo' user='bob' options='-c bar=baz'", None),
    ("postgres://bob:secret@myhost:1234/foo?host=/var/run/postgresql",
     "host='/var/run/postgresql' port='1234' dbname='foo' user='bob'", None),
    ("postgres://bob:secret@localhost/foo?socket=/var/run/postgresql",
     "host='/var/run/postgresql' dbname='foo' user='bob'", None),
    ("postgres:///foo?socket=/var/run/postgresql", "host='/var/run/postgresql' dbname='foo'", None),
    ("postgres://bob:secret@/foo?socket=/var/run/postgresql", "host='/var/run/postgresql' dbname='foo' user='bob'", None),
    ("postgres://bob:secret@/foo?host=/var/run/postgresql", "host='/var/run/postgresql' dbname='foo' user='bob'", None),
    ("postgres:///foo?search_path=foo", f"host='{SOCKET}' dbname='foo' options='-c search_path=foo'",
     f"host='{SOCKET}' dbname='foo'"),
    ("postgres:///foo?search_path=foo,public",
     f"host='{SOCKET}' dbname='foo' options='-c search_path=foo,public'", f"host='{SOCKET}' dbname='foo'"),
    # the rest of what lib/pq (dbmate's driver) takes
    ("postgresql://[::1]:5433/db", "host='::1' port='5433' dbname='db'", None),
    ("postgres://u@[2001:db8::7]/db", "host='2001:db8::7' dbname='db' user='u'", None),
    ("postgres://u@%2Ftmp%2Fpg/db", "host='/tmp/pg' dbname='db' user='u'", None),
    ("postgres://h/db?statement_timeout=60000&lock_timeout=5s",
     "host='h' dbname='db' options='-c statement_timeout=60000 -c lock_timeout=5s'", None),
    ("postgres://h/db?sslmode=require&sslrootcert=/ca.pem&connect_timeout=3&application_name=my%20app",
     ("host='h' dbname='db' sslmode='require' sslrootcert='/ca.pem' connect_timeout='3' "
      "application_name='my app'"), None),
    ("postgres://h/db?options=-c%20work_mem%3D4MB&search_path=a&timezone=Europe/Paris",
     "host='h' dbname='db' options='-c work_mem=4MB -c search_path=a -c timezone=Europe/Paris'",
     "host='h' dbname='db' options='-c work_mem=4MB -c timezone=Europe/Paris'"),
    ("postgres://h/db?custom.flag=a%20b%5Cc", "host='h' dbname='db' options='-c custom.flag=a\\\\ b\\\\\\\\c'", None),
    ("postgres://h/db?binary_parameters=yes&disable_prepared_binary_result=yes", "host='h' dbname='db'", None),
    ("postgres://h/db?user=carol&dbname=other&target_session_attrs=read-write",
     "host='h' dbname='other' user='carol' target_session_attrs='read-write'", None),
    ("postgres://h/db?password=pw-in-query", "host='h' dbname='db'", None),
    ("postgres://o'brien@h/it's", "host='h' dbname='it\\'s' user='o\\'brien'", None),
]


REQUIRE = " sslmode='require'"  # lib/pq's default over TCP, added where the URL sets no sslmode


def over_tcp(conninfo: str) -> str:
    return conninfo if "host='/" in conninfo or "sslmode=" in conninfo else conninfo + REQUIRE


@pytest.mark.parametrize(("raw", "conninfo", "for_dump"), CASES)
def test_conninfo(raw, conninfo, for_dump):
    url = DatabaseURL.parse(raw)
    assert url.conninfo(environ=NO_ENV) == over_tcp(conninfo)
    assert url.conninfo(search_path=False, environ=NO_ENV) == over_tcp(for_dump or conninfo)
    assert "secret" not in url.conninfo(environ=NO_ENV) and "pw-in-query" not in url.display()


@pytest.mark.parametrize(("raw", "password"), [
    ("postgres://bob:secret@h/db", "secret"),
    ("postgres://bob:s%40c%3Aret%2F@h/db", "s@c:ret/"),
    ("postgres://bob:p@ss@h/db", "p@ss"),  # the last @ ends the userinfo, as in Go's net/url
    ("postgres://bob@h/db?password=q%26w", "q&w"),
    ("postgres://bob:first@h/db?password=second", "second"),  # the query wins, as in libpq and lib/pq
    ("postgres://bob@h/db", None),
    ("postgres://bob:@h/db", None),
])
def test_password_held_apart(raw, password):
    url = DatabaseURL.parse(raw)
    assert url.password == password
    assert url.env() == ({"PGPASSWORD": password} if password else {})
    if password:
        for text in (url.conninfo(environ=NO_ENV), url.display(), redact(raw)):
            assert password not in text


@pytest.mark.parametrize(("environ", "host"), [
    ({}, SOCKET),  # dbmate's default socket directory
    ({"PGHOST": "/elsewhere"}, None),  # libpq takes PGHOST
    ({"PGHOSTADDR": "127.0.0.1"}, None),
    ({"PGSERVICE": "prod"}, None),
])
def test_a_missing_host_comes_from_the_environment(environ, host):
    info = DatabaseURL.parse("postgres:///db").conninfo(environ=environ)
    assert info == (f"host='{host}' dbname='db'" if host else
                    "dbname='db'" + (REQUIRE if "PGHOSTADDR" in environ else ""))


@pytest.mark.parametrize(("raw", "environ", "sslmode"), [
    ("postgres://h/db", {}, "require"),  # dbmate (lib/pq) requires SSL over TCP by default
    ("postgres://h/db", {"PGSSLMODE": "disable"}, None),  # libpq takes PGSSLMODE
    ("postgres://h/db?sslmode=verify-full", {"PGSSLMODE": "disable"}, "verify-full"),
    ("postgres://h/db?sslmode=disable", {}, "disable"),
    ("postgres:///db", {"PGHOST": "db.internal"}, "require"),
    ("postgres:///db", {"PGHOST": "/sock"}, None),
    ("postgres:///db?socket=/sock", {"PGHOST": "db.internal"}, None),
    ("postgres://h/db?service=prod", {}, None),  # the service file may say
    ("postgres://h1,h2/db", {}, "require"),
])
def test_sslmode(raw, environ, sslmode):
    info = DatabaseURL.parse(raw).conninfo(environ=environ)
    if sslmode is None:
        assert "sslmode" not in info
    else:
        assert info.count("sslmode") == 1 and f"sslmode='{sslmode}'" in info


def test_pgoptions_kept_when_the_url_adds_settings():
    url = DatabaseURL.parse("postgres://h/db?statement_timeout=1s")
    assert url.conninfo(environ={"PGOPTIONS": "-c work_mem=8MB"}) == (
        "host='h' dbname='db' options='-c work_mem=8MB -c statement_timeout=1s'" + REQUIRE)


@pytest.mark.parametrize("raw", [
    "postgres:///db?socket=/dir",
    "postgres://bob:s%40cret@[::1]:5433/db?search_path=a,b&sslmode=disable&statement_timeout=5",
    "postgres://h/db?host=/x&application_name=a%20b",
])
def test_dbmate_url_round_trips(raw):
    url = DatabaseURL.parse(raw)
    assert DatabaseURL.parse(url.dbmate_url()) == url
    assert DatabaseURL.parse(url.display()).password in (None, "********")


def test_display():
    url = DatabaseURL.parse("postgres://bob:Very-Secret-1@[::1]:5433/db?password=Other-Secret-2&sslmode=require")
    assert url.display() == "postgres://bob:********@[::1]:5433/db?sslmode=require"
    assert DatabaseURL.parse("postgres:///db?socket=/s").display() == "postgres:///db?host=/s"


SECRET = "Tr1cky-Secret"
BAD = [
    (f"postgres://u:{SECRET}@host:abc/db", "its port is not a number"),
    (f"postgres://u:{SECRET}/x@host/db", "its port is not a number"),  # an unencoded '/'
    (f"postgres://u:{SECRET}#x@host/db", "its port is not a number"),  # an unencoded '#'
    (f"postgres://u:{SECRET}@host:99999/db", "from 1 to 65535"),
    (f"postgres://u:{SECRET}@host/db?password=ab#{SECRET}", "'#' fragment"),
    (f"postgres://u:{SECRET}@::1/db", "IPv6 address must be written in brackets"),
    (f"postgres://u:{SECRET}@[::1/db", "cannot be read"),
    (f"postgres://u:{SECRET}@[::1]x/db", "after the IPv6 address"),
    (f"postgres://u:{SECRET}@host/", "names no database"),
    (f"postgres://u:{SECRET}@host/a/b", "more than a database name"),
    (f"mysql://u:{SECRET}@host/db", "unsupported URL scheme 'mysql'"),
    (f"u:{SECRET}@host/db", "unsupported URL scheme"),
    (f"{SECRET}", "unsupported URL scheme '(none)'"),
    (f"postgres://u:{SECRET}@host/db?port=x", "port= parameter"),
    (f"postgres://u:{SECRET}@host/db?sslmode=a&sslmode=b", "'sslmode' twice"),
    (f"postgres://u:{SECRET}@host/db?sslpassword=k", "sslpassword in the URL is not supported"),
    (f"postgres://u:{SECRET}@host/db?sslinline=true", "inline certificates"),
    (f"postgres://u:{SECRET}@host/db?a%20b=1", "neither a libpq connection setting"),
]


@pytest.mark.parametrize(("raw", "message"), BAD)
def test_bad_url_one_line_naming_the_setting_never_the_password(raw, message):
    with pytest.raises(ConfigError) as caught:
        DatabaseURL.parse(raw, source="STAGING_DATABASE_URL")
    text = str(caught.value)
    assert message in text
    assert text.startswith("STAGING_DATABASE_URL") and "\n" not in text
    assert SECRET not in text and caught.value.__cause__ is None
