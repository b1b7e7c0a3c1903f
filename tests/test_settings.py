"""Settings come from GATEWAY_* variables; bad ones stop start-up with one clear line."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent

# At least one bad value for every setting, as it would arrive from the environment.
BAD_VALUES = [
    ("GATEWAY_ERAS_URL", "ftp://x"),
    ("GATEWAY_ERAS_URL", "https://"),
    ("GATEWAY_FIGSHARE_URL", "not a url"),
    ("GATEWAY_CACHE_URL", "memcached://x"),
    ("GATEWAY_CACHE_URL", "redis://127.0.0.1:6379/abc"),
    ("GATEWAY_CACHE_URL", "redis://127.0.0.1:port/0"),
    ("GATEWAY_CACHE_URL", "redis://127.0.0.1:6379/0?prefix=x"),
    ("GATEWAY_CACHE_URL", "memory://somewhere"),
    ("GATEWAY_UPSTREAM_TIMEOUT_S", "soon"),
    ("GATEWAY_UPSTREAM_TIMEOUT_S", "0"),
    ("GATEWAY_UPSTREAM_TIMEOUT_S", "601"),
    ("GATEWAY_UPSTREAM_TIMEOUT_S", "nan"),
    ("GATEWAY_UPSTREAM_TIMEOUT_S", "inf"),
    ("GATEWAY_FIGSHARE_AUTH_HEADER", "bad header:"),
    ("GATEWAY_CACHE_MAX_ENTRIES", "-5"),
    ("GATEWAY_CACHE_MAX_BYTES", "1023"),
    ("GATEWAY_CACHE_TTL_PAST_S", "-1"),
    ("GATEWAY_CACHE_TTL_RECENT_S", "1.5"),
    ("GATEWAY_CACHE_TTL_PRIVATE_S", "-1"),
    ("GATEWAY_CACHE_MAX_STALE_S", "forever"),
    ("GATEWAY_CACHE_LOCK_WAIT_S", "-inf"),
    ("GATEWAY_CACHE_OP_TIMEOUT_S", "61"),
    ("GATEWAY_CACHE_SECRET", ""),
    ("GATEWAY_RESPONSE_CACHE", "maybe"),
    ("GATEWAY_BREAKER_FAILURES", "-1"),
    ("GATEWAY_BREAKER_RESET_S", "nan"),
    ("GATEWAY_MAX_IDS", "0"),
    ("GATEWAY_MAX_DEPTH", "-1"),
    ("GATEWAY_MAX_ALIASES", "many"),
    ("GATEWAY_MAX_UPSTREAM_CALLS", "0"),
    ("GATEWAY_MAX_SERIES_POINTS", "0"),
    ("GATEWAY_MAX_QUERY_BYTES", "0"),
    ("GATEWAY_MAX_QUERY_TOKENS", "1e3"),
    ("GATEWAY_MAX_ENTITIES", "0"),
    ("GATEWAY_MAX_BODY_BYTES", "-1"),
    ("GATEWAY_UPSTREAM_RETRIES", "11"),
    ("GATEWAY_UPSTREAM_RETRY_BACKOFF_S", "0"),
    ("GATEWAY_UPSTREAM_MAX_IN_FLIGHT", "0"),
    ("GATEWAY_ERAS_MAX_RPS", "-1"),
    ("GATEWAY_FIGSHARE_MAX_RPS", "inf"),
    ("GATEWAY_HTTP_HEADER_TIMEOUT_S", "0"),
    ("GATEWAY_HTTP_BODY_TIMEOUT_S", "-1"),
    ("GATEWAY_HTTP_KEEPALIVE_TIMEOUT_S", "nan"),
    ("GATEWAY_SHUTDOWN_TIMEOUT_S", "0"),
    ("GATEWAY_WORKERS", "257"),
    ("GATEWAY_CORS_ORIGINS", "example.org"),
    ("GATEWAY_GRAPHIQL", "sometimes"),
    ("GATEWAY_GRAPHIQL_PERSIST_HEADERS", "2"),
    ("GATEWAY_LOG_LEVEL", "loud"),
    ("GATEWAY_LOG_FORMAT", "xml"),
]

FLOAT_FIELDS = [name for name, field in Settings.model_fields.items() if field.annotation is float]


def run_cli(cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GATEWAY_")}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def test_defaults_follow_the_contract() -> None:
    s = Settings.from_env({}, env_file=None)
    assert s.eras_url == "https://eras.zooniverse.org"
    assert s.figshare_url == "https://stats.figshare.com"
    assert s.cache_url == "memory://"
    assert s.upstream_timeout_s == 10
    assert s.figshare_auth_header == "X-Figshare-Authorization"


def test_the_newer_settings_have_their_documented_defaults() -> None:
    s = Settings.from_env({}, env_file=None)
    assert (s.cache_max_bytes, s.cache_op_timeout_s, s.response_cache) == (256 * 1024 * 1024, 1, True)
    assert (s.max_upstream_calls, s.max_series_points, s.max_entities) == (50, 10_000, 100)
    assert (s.max_query_bytes, s.max_query_tokens, s.max_body_bytes) == (32_768, 5_000, 1_048_576)
    assert (s.upstream_retries, s.upstream_retry_backoff_s, s.upstream_max_in_flight) == (2, 0.1, 64)
    assert (s.eras_max_rps, s.figshare_max_rps) == (0, 0)
    assert (s.http_header_timeout_s, s.http_body_timeout_s, s.http_keepalive_timeout_s) == (10, 30, 5)
    assert (s.shutdown_timeout_s, s.workers) == (10, 1)
    assert (s.graphiql, s.graphiql_persist_headers) == (True, False)
    assert (s.log_level, s.log_format) == ("info", "text")
    assert len(bytes.fromhex(s.cache_secret)) == 32


def test_environment_overrides_and_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GATEWAY_UPSTREAM_TIMEOUT_S=3\nGATEWAY_CACHE_URL=none://\n")
    s = Settings.from_env({"GATEWAY_CACHE_URL": "redis://127.0.0.1:6379/2"}, env_file=env_file)
    assert s.upstream_timeout_s == 3
    assert s.cache_url == "redis://127.0.0.1:6379/2"  # the environment wins over the file


def test_the_env_file_is_read_from_the_working_directory_unless_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("# local overrides\nGATEWAY_MAX_IDS=7\nGATEWAY_WORKERS\nOTHER=1\n")
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).max_ids == 7
    assert Settings.from_env({}, env_file=None).max_ids == 100
    assert Settings.from_env({}, env_file=tmp_path / "missing.env").max_ids == 100


def test_values_are_parsed_leniently_where_that_is_unambiguous() -> None:
    s = Settings.from_env(
        {
            "gateway_max_ids": " 7 ",
            "GATEWAY_RESPONSE_CACHE": "off",
            "GATEWAY_GRAPHIQL": "No",
            "GATEWAY_GRAPHIQL_PERSIST_HEADERS": "YES",
            "GATEWAY_LOG_LEVEL": "DEBUG",
            "GATEWAY_LOG_FORMAT": "Json",
            "GATEWAY_CACHE_URL": "rediss://:pw@cache.internal:6380/?namespace=stats",
            "GATEWAY_CORS_ORIGINS": "https://a.example, http://localhost:3000",
        },
        env_file=None,
    )
    assert (s.max_ids, s.response_cache, s.graphiql, s.graphiql_persist_headers) == (7, False, False, True)
    assert (s.log_level, s.log_format) == ("debug", "json")
    assert s.cache_url == "rediss://:pw@cache.internal:6380/?namespace=stats"
    assert s.cors_origin_list == ["https://a.example", "http://localhost:3000"]
    for truthy in ("true", "1", "yes", "on"):
        assert Settings.from_env({"GATEWAY_RESPONSE_CACHE": truthy}, env_file=None).response_cache is True
    for falsy in ("false", "0", "no", "off"):
        assert Settings.from_env({"GATEWAY_RESPONSE_CACHE": falsy}, env_file=None).response_cache is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_ERAS_URL", "ftp://x"),
        ("GATEWAY_FIGSHARE_URL", "not a url"),
        ("GATEWAY_CACHE_URL", "memcached://x"),
        ("GATEWAY_UPSTREAM_TIMEOUT_S", "soon"),
        ("GATEWAY_UPSTREAM_TIMEOUT_S", "0"),
        ("GATEWAY_CACHE_MAX_ENTRIES", "-5"),
        ("GATEWAY_FIGSHARE_AUTH_HEADER", "bad header:"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value}, env_file=None)


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_every_bad_value_is_one_line_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({name: value}, env_file=None)
    message = str(raised.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message
    assert "pydantic" not in message


def test_every_setting_has_a_bad_value_above() -> None:
    assert {name for name, _ in BAD_VALUES} == {f"GATEWAY_{f.upper()}" for f in Settings.model_fields}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GATEWAY_UPSTREAM_TIMEOUT_S", "soon", "GATEWAY_UPSTREAM_TIMEOUT_S: 'soon' is not a valid value"),
        ("GATEWAY_UPSTREAM_TIMEOUT_S", "0", "GATEWAY_UPSTREAM_TIMEOUT_S: must be greater than 0"),
        ("GATEWAY_UPSTREAM_TIMEOUT_S", "601", "GATEWAY_UPSTREAM_TIMEOUT_S: must be at most 600"),
        ("GATEWAY_CACHE_MAX_BYTES", "1023", "GATEWAY_CACHE_MAX_BYTES: must be at least 1024"),
        ("GATEWAY_UPSTREAM_RETRIES", "-1", "GATEWAY_UPSTREAM_RETRIES: must be at least 0"),
        ("GATEWAY_CACHE_SECRET", "  ", "GATEWAY_CACHE_SECRET: must not be empty"),
    ],
)
def test_out_of_range_values_state_the_bound(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({name: value}, env_file=None)
    assert str(raised.value) == message


def test_a_redis_database_that_is_no_number_is_reported_at_start_up() -> None:
    with pytest.raises(ConfigError, match=r"^GATEWAY_CACHE_URL: .*the database must be a number"):
        Settings.from_env({"GATEWAY_CACHE_URL": "redis://127.0.0.1:6379/abc"}, env_file=None)


def test_an_unknown_log_level_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"GATEWAY_LOG_LEVEL": "loud"}, env_file=None)
    assert str(raised.value).startswith("GATEWAY_LOG_LEVEL: 'loud' is not one of 'critical', ")


@pytest.mark.parametrize("field", FLOAT_FIELDS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_no_float_setting_takes_nan_or_infinity(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"^GATEWAY_{field.upper()}: "):
        Settings(**{field: value})


def test_the_first_bad_value_in_field_order_is_the_one_reported() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"GATEWAY_WORKERS": "0", "GATEWAY_MAX_IDS": "0"}, env_file=None)
    assert str(raised.value) == "GATEWAY_MAX_IDS: must be at least 1"


def test_unknown_names_are_warned_about_with_the_closest_known_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {"GATEWAY_CACHE_ULR": "none://", "GATEWAY_XYZZY": "1", "HOME": "/root"}
    assert Settings.unknown_names(environ) == {
        "GATEWAY_CACHE_ULR": "GATEWAY_CACHE_URL",
        "GATEWAY_XYZZY": None,
    }
    env_file = tmp_path / ".env"
    env_file.write_text("GATEWAY_MAX_ID=5\n")
    caplog.set_level(logging.WARNING, logger="gateway.settings")
    s = Settings.from_env(environ, env_file=env_file)
    assert s.cache_url == "memory://"  # start-up goes on, without the misspelt value
    warnings = [r for r in caplog.records if r.name == "gateway.settings"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 3
    assert [r.getMessage() for r in warnings] == [
        "GATEWAY_CACHE_ULR is not a known setting and is ignored (did you mean GATEWAY_CACHE_URL?)",
        "GATEWAY_MAX_ID is not a known setting and is ignored (did you mean GATEWAY_MAX_IDS?)",
        "GATEWAY_XYZZY is not a known setting and is ignored",
    ]


def test_settings_built_directly_ignore_the_environment_and_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("GATEWAY_MAX_DEPTH=3\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_MAX_IDS", "7")
    monkeypatch.setenv("GATEWAY_WORKERS", "not a number")
    assert (Settings().max_ids, Settings().max_depth, Settings().workers) == (100, 12, 1)
    monkeypatch.delenv("GATEWAY_WORKERS")
    assert (Settings.from_env().max_ids, Settings.from_env().max_depth) == (7, 3)


def test_settings_are_validated_when_built_directly() -> None:
    with pytest.raises(ConfigError, match=r"^GATEWAY_MAX_DEPTH: must be at least 1$"):
        Settings(max_depth=0)
    with pytest.raises(ConfigError, match=r"^GATEWAY_MAX_DEPHT: not a known setting$"):
        Settings(max_depht=3)


def test_replace_returns_a_validated_copy() -> None:
    s = Settings(cache_secret="kept")
    changed = s.replace(max_ids=5, log_level="WARNING")
    assert (changed.max_ids, changed.log_level, changed.cache_secret) == (5, "warning", "kept")
    assert (s.max_ids, s.log_level) == (100, "info")
    with pytest.raises(ConfigError, match=r"^GATEWAY_MAX_IDS: must be at least 1$"):
        s.replace(max_ids=0)
    with pytest.raises(ConfigError, match=r"^GATEWAY_UPSTREAM_TIMEOUT_S: "):
        s.replace(upstream_timeout_s=math.nan)


def test_settings_are_immutable() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.max_ids = 5  # type: ignore[misc]
    assert s.max_ids == 100


def test_cli_reports_bad_configuration_in_one_line(tmp_path: Path) -> None:
    done = run_cli(tmp_path, GATEWAY_UPSTREAM_TIMEOUT_S="soon")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "stats-gateway: bad configuration: GATEWAY_UPSTREAM_TIMEOUT_S: 'soon' is not a valid value"
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [("GATEWAY_LOG_LEVEL", "loud"), ("GATEWAY_CACHE_URL", "redis://127.0.0.1:6379/abc")],
)
def test_cli_stops_on_a_bad_log_level_or_cache_url_in_one_line(tmp_path: Path, name: str, value: str) -> None:
    done = run_cli(tmp_path, **{name: value})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"stats-gateway: bad configuration: {name}: ")


def test_cli_shows_the_unknown_name_warning_before_it_starts(tmp_path: Path) -> None:
    done = run_cli(tmp_path, GATEWAY_CACHE_ULR="none://", GATEWAY_LOG_LEVEL="loud")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "GATEWAY_CACHE_ULR is not a known setting and is ignored (did you mean GATEWAY_CACHE_URL?)",
        "stats-gateway: bad configuration: GATEWAY_LOG_LEVEL: 'loud' is not one of "
        "'critical', 'error', 'warning', 'info', 'debug' or 'trace'",
    ]


def test_secret_is_not_in_repr() -> None:
    assert "hunter2" not in repr(Settings(cache_secret="hunter2"))
    assert "hunter2" not in str(Settings(cache_secret="hunter2"))
    assert "hunter2" not in repr(Settings(cache_secret="hunter2").replace(max_ids=3))
