"""The table of contents: root fields and the federation v2 schema with its extensions."""

from __future__ import annotations

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, ParserCache, QueryDepthLimiter, ValidationCache
from strawberry.federation import Schema
from strawberry.types.execution import ExecutionContext

from gateway.extensions import ErrorCodes
from gateway.types.common import SCALAR_OVERRIDES
from gateway.types.figshare import FIGSHARE_TYPES, Figshare
from gateway.types.zooniverse import Zooniverse


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


class GatewaySchema(Schema):
    """Federation schema that logs only unexpected errors (the others are the caller's news)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        return None


def create_schema(*, max_depth: int = 12, max_aliases: int = 200) -> GatewaySchema:
    """The schema; the limits bound how far one operation can fan out upstream."""
    return GatewaySchema(
        query=Query,
        types=FIGSHARE_TYPES,
        # Factories: a fresh extension per request; the parser and validation caches are shared.
        extensions=[
            ErrorCodes,
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            lambda: QueryDepthLimiter(max_depth=max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=max_aliases),
        ],
        scalar_overrides=SCALAR_OVERRIDES,
    )


schema = create_schema()
