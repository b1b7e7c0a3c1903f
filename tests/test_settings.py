"""Settings come from GATEWAY_* variables; bad ones stop start-up with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_follow_the_contract() -> None:
    s = Settings.from_env({}, env_file=None)
    assert s.eras_url == "https://eras.zooniverse.org"
    assert s.figshare_url == "https://stats.figshare.com"
    assert s.cache_url == "memory://"
    assert s.upstream_timeout_s == 10
    assert s.figshare_auth_header == "X-Figshare-Authorization"


def test_environment_overrides_and_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GATEWAY_UPSTREAM_TIMEOUT_S=3\nGATEWAY_CACHE_URL=none://\n")
    s = Settings.from_env({"GATEWAY_CACHE_URL": "redis://127.0.0.1:6379/2"}, env_file=env_file)
    assert s.upstream_timeout_s == 3
    assert s.cache_url == "redis://127.0.0.1:6379/2"  # the environment wins over the file


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


def test_cli_reports_bad_configuration_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_UPSTREAM_TIMEOUT_S"] = "soon"
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "stats-gateway: bad configuration: GATEWAY_UPSTREAM_TIMEOUT_S: 'soon' is not a valid value"
    ]


def test_secret_is_not_in_repr() -> None:
    assert "hunter2" not in repr(Settings(cache_secret="hunter2"))
