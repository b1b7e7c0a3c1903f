"""The gateway's settings: the only reader of the ``GATEWAY_*`` environment.

Values come from the process environment, then from a ``.env`` file in the working directory for
names the environment leaves unset. Tests build ``Settings(...)`` directly with explicit values.
A bad value raises ``ConfigError`` whose message names the variable; the CLI prints that one line.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has a value the gateway cannot run with."""


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be configured with. Field ``x`` is read from ``GATEWAY_X``."""

    eras_url: str = "https://eras.zooniverse.org"
    figshare_url: str = "https://stats.figshare.com"
    cache_url: str = "memory://"
    upstream_timeout_s: float = 10.0
    figshare_auth_header: str = "X-Figshare-Authorization"
    # Cache policy (issue: caching). Sizes in entries, times in seconds.
    cache_max_entries: int = 10_000
    cache_ttl_past_s: int = 86_400
    cache_ttl_recent_s: int = 60
    cache_ttl_private_s: int = 60
    cache_max_stale_s: int = 86_400
    cache_lock_wait_s: float = 5.0
    # Keys credentialed cache entries (HMAC). A random one per process unless set; replicas that
    # share Redis must share it too, or they will not share credentialed entries (still safe).
    cache_secret: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    # A circuit opens after this many consecutive failures and stays open this long.
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    max_ids: int = 100
    # Bounds on one operation, so a single request cannot fan out without limit upstream.
    max_depth: int = 12
    max_aliases: int = 200
    # Browser origins allowed to call the gateway (comma-separated, or * for any). Credentials
    # travel in headers, never cookies, so any origin is safe to allow.
    cors_origins: str = "*"
    log_level: str = "info"

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def __post_init__(self) -> None:
        for name in ("eras_url", "figshare_url"):
            _check_http_url(f"GATEWAY_{name.upper()}", getattr(self, name))
        scheme = urlsplit(self.cache_url).scheme
        if scheme not in {"memory", "redis", "rediss", "none"}:
            raise ConfigError(
                f"GATEWAY_CACHE_URL: unsupported scheme {scheme!r} "
                "(use memory://, redis://host:port/db or none://)"
            )
        positive = (
            "upstream_timeout_s",
            "cache_max_entries",
            "cache_lock_wait_s",
            "max_ids",
            "max_depth",
            "max_aliases",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"GATEWAY_{name.upper()}: must be greater than 0")
        for name in (
            "cache_ttl_past_s",
            "cache_ttl_recent_s",
            "cache_ttl_private_s",
            "cache_max_stale_s",
            "breaker_failures",
            "breaker_reset_s",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"GATEWAY_{name.upper()}: must not be negative")
        if not self.figshare_auth_header.replace("-", "").isalnum():
            raise ConfigError("GATEWAY_FIGSHARE_AUTH_HEADER: not a valid HTTP header name")
        if not self.cache_secret:
            raise ConfigError("GATEWAY_CACHE_SECRET: must not be empty")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Read every ``GATEWAY_*`` variable; the environment wins over the ``.env`` file."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(f"GATEWAY_{f.name.upper()}")
            if raw is None:
                continue
            kwargs[f.name] = _convert(f"GATEWAY_{f.name.upper()}", raw, _PARSERS[str(f.type)])
        return cls(**kwargs)


def _convert(name: str, raw: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a valid value") from None


_PARSERS: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float}


def _check_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"{name}: {value!r} is not an http(s) URL")
