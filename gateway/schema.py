"""The table of contents: root fields and the federation v2 schema.

Adding an upstream adds its root field here.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.federation import Schema
from strawberry.federation.schema import FederationAny

from gateway.errors import BadUserInput
from gateway.types.common import SCALAR_OVERRIDES
from gateway.types.figshare import FIGSHARE_TYPES, Figshare
from gateway.types.zooniverse import ZOONIVERSE_ENTITIES, Zooniverse


@strawberry.type
class Query:
    @strawberry.field(description="Zooniverse stats, answered by the ERAS stats service.")
    def zooniverse(self) -> Zooniverse:
        return Zooniverse()

    @strawberry.field(
        description="Figshare stats, answered by the Figshare stats service. Without institution: "
        "the public scope. With it (the portal's short name, e.g. \"lboro\"): that institution's "
        "scope, whose timelines, geolocation and rankings need the caller's Figshare stats "
        "credentials."
    )
    def figshare(self, institution: str | None = None) -> Figshare | None:
        return Figshare.open(institution)


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


def create_schema() -> GatewaySchema:
    return GatewaySchema(query=Query, types=FIGSHARE_TYPES, scalar_overrides=SCALAR_OVERRIDES)


schema = create_schema()
