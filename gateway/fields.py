"""The resolver graphql-core calls for each field: the field's own Python function, called directly.

Strawberry wraps every field's function in a chain made for features this schema does not use
(field extensions, permission classes, exception handlers): on every call it builds closures,
reduces an empty extension list, converts each argument through a general converter (which
imports a module per call) and awaits the function's coroutine in a coroutine of its own. For one
authenticated stats query that chain cost about a tenth of the operation's CPU (bench/README.md).

``call_directly`` replaces, once the schema is built, the resolver of each field without such
features by one that does exactly what Strawberry's would: arguments given (defaults included)
mapped to their Python names, lists copied, anything else (enums, input objects) converted by
Strawberry's own converter; the source passed as ``self``, ``root`` or ``parent`` and an ``Info``
as ``info`` where the function asks for them; its return value (a coroutine for an async
function) handed back as it is. Fields with any of those features keep Strawberry's resolver.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import StrawberryArgument, convert_argument
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.field import StrawberryField

Converter = Callable[[Any, Any], Any]  # (GraphQL value, strawberry Info) -> Python value
_CONVERTER_TAKES = frozenset(inspect.signature(convert_argument).parameters)


def call_directly(schema: strawberry.Schema) -> int:
    """Give every plain field of ``schema`` a direct resolver; returns how many were given one."""
    graphql: GraphQLSchema = schema._schema
    converter = schema.schema_converter
    replaced = 0
    for named in graphql.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(definition, StrawberryField) or not _plain(definition, converter):
                continue
            resolver = _direct(definition, schema)
            if resolver is not None:
                field.resolve = resolver
                replaced += 1
    return replaced


def _plain(field: StrawberryField, converter: GraphQLCoreConverter) -> bool:
    """Whether Strawberry's chain would do nothing for ``field`` but call its function."""
    # Exception handlers are recent in Strawberry: a version without them has none to apply.
    handlers = getattr(converter, "_get_field_exception_handlers", None)
    return (
        not field.extensions
        and not field.permission_classes
        and not field.is_subscription
        and (handlers is None or not handlers(field))
    )


def _direct(field: StrawberryField, schema: strawberry.Schema) -> Callable[..., Any] | None:
    resolver = field.base_resolver
    if resolver is None:
        # No function: the attribute of the source object, as Strawberry's default resolver reads it.
        name = field.python_name

        def attribute(source: Any, info: GraphQLResolveInfo[Any], **_: Any) -> Any:
            return getattr(source, name)

        attribute._is_default = True  # type: ignore[attr-defined]  # as Strawberry marks its own
        return attribute
    function = resolver.wrapped_func
    if not callable(function):
        return None  # Strawberry reports such a field when it is resolved: left to it
    config = schema.config
    names = config.name_converter
    arguments = []
    for argument in field.arguments:
        graphql_name = names.from_argument(argument)
        arguments.append((graphql_name, argument.python_name, _converter(argument, graphql_name, schema)))
    with_self = resolver.self_parameter is not None
    as_source = [p.name for p in (resolver.root_parameter, resolver.parent_parameter) if p is not None]
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
    info_class = config.info_class

    def direct(source: Any, info: GraphQLResolveInfo[Any], **given: Any) -> Any:
        strawberry_info = info_class(_raw_info=info, _field=field)
        kwargs: dict[str, Any] = {}
        for graphql_name, python_name, convert in arguments:
            if graphql_name in given:
                kwargs[python_name] = convert(given[graphql_name], strawberry_info)
        for name in as_source:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = strawberry_info
        return function(source, **kwargs) if with_self else function(**kwargs)

    return direct


def _converter(argument: StrawberryArgument, graphql_name: str, schema: strawberry.Schema) -> Converter:
    """What Strawberry's converter would do for this argument, without its per-call cost where
    that is nothing (scalars) or a copy (lists of scalars)."""
    kind = argument.type
    registry = schema.schema_converter.scalar_registry
    if isinstance(kind, StrawberryOptional):
        kind = kind.of_type
    if _scalar(kind, registry):
        return _as_given
    if isinstance(kind, StrawberryList):
        item = kind.of_type.of_type if isinstance(kind.of_type, StrawberryOptional) else kind.of_type
        if _scalar(item, registry):
            # Copied: graphql-core hands every request that omits the value the same default list.
            return _copied
    config, declared = schema.config, argument.type
    # Newer Strawberry versions give input types that build their own value the Info and where
    # the value sits; older ones take neither.
    where: dict[str, Any] = {"path": (graphql_name,)} if "path" in _CONVERTER_TAKES else {}
    if "info" in _CONVERTER_TAKES:
        return lambda value, info: convert_argument(value, declared, registry, config, info=info, **where)
    return lambda value, _info: convert_argument(value, declared, registry, config, **where)


def _scalar(kind: Any, registry: Any) -> bool:
    # A GlobalID is decoded by Strawberry's converter: left to it.
    return kind is not GlobalID and is_scalar(kind, registry)


def _as_given(value: Any, _info: Any) -> Any:
    return value


def _copied(value: Any, _info: Any) -> Any:
    return None if value is None else list(value)
