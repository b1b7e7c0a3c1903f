"""The gateway's settings: the only reader of the ``GATEWAY_*`` environment.

Field ``x`` is read from ``GATEWAY_X``: first the process environment, then a ``.env`` file in the
working directory for names the environment leaves unset. ``Settings(...)`` takes only the values
it is given, so tests never depend on the environment they run in. Every value is typed and
bounded and checked at start-up: a bad one raises ``ConfigError``, one line naming the variable,
which the CLI prints instead of starting. A ``GATEWAY_*`` name that is no setting (a misspelling)
is logged as a warning, with the closest known name, since it would otherwise be silently ignored.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.cache import BACKENDS

PREFIX = "GATEWAY_"
CACHE_SCHEMES = tuple(BACKENDS)

logger = logging.getLogger(__name__)

_Count = Annotated[int, Field(ge=1)]
_NonNegative = Annotated[int, Field(ge=0)]
_Seconds = Annotated[float, Field(gt=0)]
_Rate = Annotated[float, Field(ge=0)]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
LogFormat = Literal["text", "json"]
# RFC 9110 token characters: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class ConfigError(ValueError):
    """A setting has a value the gateway cannot run with."""


class Settings(BaseSettings):
    """Everything the gateway can be configured with. Field ``x`` is read from ``GATEWAY_X``."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    eras_url: str = "https://eras.zooniverse.org"
    figshare_url: str = "https://stats.figshare.com"
    cache_url: str = "memory://"
    upstream_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    figshare_auth_header: str = "X-Figshare-Authorization"
    # Cache policy. Sizes in entries or bytes, times in seconds.
    cache_max_entries: _Count = 10_000
    cache_max_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024 * 1024
    cache_ttl_past_s: _NonNegative = 86_400
    cache_ttl_recent_s: _NonNegative = 60
    cache_ttl_private_s: _NonNegative = 60
    cache_max_stale_s: _NonNegative = 86_400
    cache_lock_wait_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    cache_op_timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    # Keys credentialed cache entries (HMAC). A random one per process unless set; replicas that
    # share Redis must share it too, or they will not share credentialed entries (still safe).
    cache_secret: str = Field(default_factory=lambda: secrets.token_hex(32), min_length=1, repr=False)
    response_cache: bool = True
    # A circuit opens after this many consecutive failures (0: never) and stays open this long.
    breaker_failures: _NonNegative = 5
    breaker_reset_s: _Rate = 30.0
    # Bounds on one request, so a single caller cannot fan out without limit upstream.
    max_ids: _Count = 100
    max_depth: _Count = 12
    max_aliases: _Count = 200
    max_upstream_calls: _Count = 50
    max_series_points: _Count = 10_000
    max_query_bytes: _Count = 32_768
    max_query_tokens: _Count = 5_000
    max_entities: _Count = 100
    max_body_bytes: _Count = 1_048_576
    upstream_retries: Annotated[int, Field(ge=0, le=10)] = 2
    upstream_retry_backoff_s: Annotated[float, Field(gt=0, le=60)] = 0.1
    upstream_max_in_flight: _Count = 64
    # Requests per second to each upstream; 0 leaves it unlimited.
    eras_max_rps: _Rate = 0.0
    figshare_max_rps: _Rate = 0.0
    # Slow clients must not hold connections open indefinitely.
    http_header_timeout_s: _Seconds = 10.0
    http_body_timeout_s: _Seconds = 30.0
    http_keepalive_timeout_s: _Seconds = 5.0
    shutdown_timeout_s: _Seconds = 10.0
    workers: Annotated[int, Field(ge=1, le=256)] = 1
    # Browser origins allowed to call the gateway (comma-separated, or * for any). Credentials
    # travel in headers, never cookies, so any origin is safe to allow.
    cors_origins: str = "*"
    graphiql: bool = True
    # Off by default: headers carry credentials, and localStorage outlives the tab.
    graphiql_persist_headers: bool = False
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"

    def __init__(self, **values: Any) -> None:
        # pydantic's own error text spans several lines; start-up reports one.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _config_error(exc) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the values given: reading the environment is from_env's job alone.
        return (init_settings,)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Read every ``GATEWAY_*`` variable; the environment wins over the ``.env`` file."""
        variables: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            file_values = dotenv_values(env_file)
            variables.update(_gateway_names({k: v for k, v in file_values.items() if v is not None}))
        variables.update(_gateway_names(os.environ if environ is None else environ))
        for name, closest in cls.unknown_names(variables).items():
            hint = f" (did you mean {closest}?)" if closest else ""
            logger.warning("%s is not a known setting and is ignored%s", name, hint)
        names = [name for name in cls.model_fields if _variable(name) in variables]
        return cls(**{name: variables[_variable(name)].strip() for name in names})

    @classmethod
    def unknown_names(cls, environ: Mapping[str, str]) -> dict[str, str | None]:
        """``GATEWAY_*`` names that are no setting, each with the closest known name, if any."""
        known = [name.upper() for name in cls.model_fields]
        unknown = sorted(n for n in _gateway_names(environ) if n.removeprefix(PREFIX) not in known)
        # Compared without the prefix, which every name shares and which would make all look alike.
        closest = {n: difflib.get_close_matches(n.removeprefix(PREFIX), known, n=1) for n in unknown}
        return {name: PREFIX + match[0] if match else None for name, match in closest.items()}

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied, validated like any other settings."""
        return type(self)(**{**self.model_dump(), **changes})

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("eras_url", "figshare_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host")
        return value

    @field_validator("cache_url")
    @classmethod
    def _cache_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in CACHE_SCHEMES:
            raise ValueError(
                f"unsupported scheme {parts.scheme!r} (use memory://, redis://host:port/db or none://)"
            )
        if parts.scheme in {"memory", "none"}:
            if parts.netloc or parts.path or parts.query or parts.fragment:
                raise ValueError(f"{value!r}: {parts.scheme}:// takes no host, path or query")
            return value
        try:
            _ = parts.port  # urllib parses the port only when asked
        except ValueError:
            raise ValueError(f"{value!r}: the port must be a number from 0 to 65535") from None
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ValueError(f"{value!r}: the database must be a number, as in redis://host:port/0")
        query = parse_qsl(parts.query, keep_blank_values=True)
        if parts.fragment or len(query) > 1 or any(key != "namespace" or not name for key, name in query):
            raise ValueError(f"{value!r}: the only query understood is ?namespace=name")
        return value

    @field_validator("figshare_auth_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not _HEADER_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid HTTP header name")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            parts = urlsplit(origin)
            # Browsers send an Origin of scheme://host[:port] only, so anything else never matches.
            if origin != "*" and (
                parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query
            ):
                raise ValueError(f"{origin!r} is not an origin (use * or scheme://host[:port])")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


def _variable(field: str) -> str:
    return PREFIX + field.upper()


def _gateway_names(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``GATEWAY_*`` entries of ``environ`` under upper-case names (the upper-case one wins)."""
    found: dict[str, str] = {}
    for name, value in environ.items():
        upper = name.upper()
        if upper.startswith(PREFIX) and (name == upper or upper not in found):
            found[upper] = value
    return found


_BOUNDS = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "string_too_short": "must not be empty",
}


def _config_error(exc: ValidationError) -> ConfigError:
    """The first bad value, in field order, as one line: pydantic's own text spans several."""
    order = list(Settings.model_fields)

    def position(error: ErrorDetails) -> int:
        field = str(error["loc"][0]) if error["loc"] else ""
        return order.index(field) if field in order else len(order)

    error = min(exc.errors(), key=position)
    field = str(error["loc"][0]) if error["loc"] else "?"
    return ConfigError(f"{_variable(field)}: {_explain(error)}")


def _explain(error: ErrorDetails) -> str:
    kind, ctx, given = error["type"], error.get("ctx", {}), error["input"]
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(**{k: _number(v) for k, v in ctx.items()})
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "literal_error":
        return f"{given!r} is not one of {ctx['expected']}"
    if kind == "finite_number":
        return f"{given!r} is not a valid value (must be a finite number)"
    if kind == "extra_forbidden":
        return "not a known setting"
    return f"{given!r} is not a valid value"


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value
