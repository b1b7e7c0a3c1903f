"""Direct field resolvers (gateway/fields.py) answer exactly as Strawberry's own chain does."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType, graphql, graphql_sync
from strawberry.extensions import FieldExtension
from strawberry.schema.schema_converter import GraphQLCoreConverter

from gateway.fields import call_directly
from gateway.schema import schema as gateway_schema


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.input
class Window:
    start_day: int
    end_day: int | None = None


class Shout(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


@strawberry.type
class Item:
    name: str

    @strawberry.field
    def echo(
        self,
        info: strawberry.Info,
        ids: list[strawberry.ID] | None = None,
        colour: Colour | None = None,
        window: Window | None = None,
        when: int | None = None,
    ) -> str:
        seen = {"ids": ids, "colour": colour, "window": window, "when": when}
        return repr((self.name, info.field_name, seen))

    @strawberry.field
    def tags(self, tags: list[str] = ["a"]) -> list[str]:  # noqa: B006  # the point of the test
        tags.append("appended")  # would leak into later requests if the default were not copied
        return tags

    @strawberry.field(extensions=[Shout()])
    def loud(self) -> str:
        return self.name


@strawberry.type
class Query:
    @strawberry.field
    def item(self, name: str) -> Item:
        return Item(name=name)

    @strawberry.field
    def parent_name(self, root: Any) -> str:
        return type(root).__name__

    @strawberry.field
    async def later(self, n: int) -> int:
        return n + 1


def plain_and_direct() -> tuple[strawberry.Schema, strawberry.Schema]:
    direct = strawberry.Schema(query=Query)
    assert call_directly(direct) > 0
    return strawberry.Schema(query=Query), direct


def resolver_of(schema: strawberry.Schema, type_name: str, field: str) -> Any:
    return schema._schema.type_map[type_name].fields[field].resolve  # type: ignore[union-attr]


ECHOES = [
    '{ item(name: "x") { echo } }',
    '{ item(name: "x") { echo(ids: ["1", "2"], colour: BLUE, when: 3) } }',
    '{ item(name: "x") { echo(window: {startDay: 1}) } }',
    '{ item(name: "x") { echo(ids: null, window: {startDay: 1, endDay: 9}) } }',
    '{ item(name: "x") { renamed: echo(colour: RED) name } }',
    '{ parentName item(name: "y") { loud } }',
    '{ item(name: "x") { echo(when: "not a number") } }',
]


@pytest.mark.parametrize("query", ECHOES)
def test_answers_as_strawberry_does(query: str) -> None:
    plain, direct = plain_and_direct()
    expected = graphql_sync(plain._schema, query, root_value=None)
    answered = graphql_sync(direct._schema, query, root_value=None)
    assert answered.data == expected.data
    assert [e.message for e in answered.errors or ()] == [e.message for e in expected.errors or ()]


def test_arguments_arrive_converted() -> None:
    _, direct = plain_and_direct()
    query = '{ item(name: "x") { echo(ids: ["1"], colour: BLUE, window: {startDay: 2}) } }'
    answer = graphql_sync(direct._schema, query).data
    assert answer is not None
    assert answer["item"]["echo"] == repr(
        ("x", "echo", {"ids": ["1"], "colour": Colour.BLUE, "window": Window(start_day=2), "when": None})
    )


def test_a_default_list_is_copied_for_each_call() -> None:
    _, direct = plain_and_direct()
    for _ in range(3):
        answer = graphql_sync(direct._schema, '{ item(name: "x") { tags } }').data
        assert answer == {"item": {"tags": ["a", "appended"]}}


async def test_an_async_function_is_awaited_by_graphql_core() -> None:
    _, direct = plain_and_direct()
    answer = await graphql(direct._schema, "{ later(n: 41) }")
    assert answer.data == {"later": 42}
    assert not answer.errors


def test_fields_with_extensions_keep_strawberrys_resolver() -> None:
    plain, direct = plain_and_direct()
    loud = resolver_of(direct, "Item", "loud")
    assert loud.__qualname__ == resolver_of(plain, "Item", "loud").__qualname__
    assert resolver_of(direct, "Item", "echo").__qualname__.endswith("direct")


def test_every_field_of_the_gateway_is_called_directly() -> None:
    objects = [t for t in gateway_schema._schema.type_map.values() if isinstance(t, GraphQLObjectType)]
    for named in objects:  # an interface's fields are resolved as its object types' fields
        for name, field in named.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if named.name.startswith("__") or definition is None:
                continue
            assert field.resolve is not None, (named.name, name)
            assert "from_resolver" not in field.resolve.__qualname__, (named.name, name)
