"""The table of contents: the root query made of each upstream's root fields, and the federation
v2 schema with its entities."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.federation import Schema
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.tools import merge_types

from gateway.errors import BadUserInput
from gateway.fields import call_directly
from gateway.types.common import SCALAR_OVERRIDES
from gateway.types.figshare import FIGSHARE_TYPES, FigshareQuery
from gateway.types.zooniverse import ZOONIVERSE_ENTITIES, ZooniverseQuery

# One root class per upstream, each beside its types: adding an upstream adds its class here.
Query = merge_types("Query", (ZooniverseQuery, FigshareQuery))


ENTITIES: dict[str, Any] = {t.__name__: t for t in (*ZOONIVERSE_ENTITIES, *FIGSHARE_TYPES)}


class GatewaySchema(Schema):
    """The federation schema, whose ``_entities`` judges each representation on its own."""

    def entities_resolver(
        self, info: strawberry.Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        most = info.context.limits.max_entities
        if len(representations) > most:
            raise BadUserInput(
                f"_entities got {len(representations)} representations; at most {most} are resolved in "
                "one request (GATEWAY_MAX_ENTITIES).",
                argument="representations",
            )
        return [FederationAny(_entity(i, r)) for i, r in enumerate(representations)]


def _entity(index: int, representation: Any) -> Any:
    """One representation's entity, or the reason it cannot be one (it fails alone)."""
    where = f"representations[{index}]"
    if not isinstance(representation, dict):
        return BadUserInput(f"{where} must be an object with __typename and id.", argument="representations")
    kind = ENTITIES.get(str(representation.get("__typename")))
    if kind is None:
        return BadUserInput(
            f"{where}: __typename must be one of {', '.join(sorted(ENTITIES))}.", argument="representations"
        )
    if representation.get("id") is None:
        return BadUserInput(f"{where}: a {kind.__name__} is known by its id.", argument="representations")
    try:
        return kind.resolve_reference(id=representation["id"])
    except BadUserInput as exc:
        return exc


class KeptNames(NameConverter):
    """Strawberry's names, each converted once: it converts every argument's Python name to its
    GraphQL name again each time a field's arguments are read, on every request."""

    def __init__(self) -> None:
        super().__init__(auto_camel_case=True)
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


def create_schema() -> GatewaySchema:
    built = GatewaySchema(
        query=Query,
        types=FIGSHARE_TYPES,
        scalar_overrides=SCALAR_OVERRIDES,
        config=StrawberryConfig(name_converter=KeptNames()),
    )
    call_directly(built)
    return built


schema = create_schema()
