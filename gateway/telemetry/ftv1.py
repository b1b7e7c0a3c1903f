"""Federated tracing (ftv1): the trace an Apollo subgraph returns when its router asks for one.

A router that wants per-field timings sends ``apollo-federation-include-trace: ftv1``; the subgraph
answers with ``extensions.ftv1``, the base64 of Apollo's ``Trace`` protobuf (``reports.proto`` of
``@apollo/usage-reporting-protobuf``): wall-clock start and end, duration, and a tree of the
resolved fields (response name or list index, field type, parent type, start and end offsets in
nanoseconds from the trace's start, errors). ``FieldTracer`` is a graphql-core middleware given to
``execute`` for such requests only: no other request pays for timing its fields.

The few messages and fields used are encoded here by hand (protobuf's wire format: varints and
length-delimited fields), with the field numbers of ``reports.proto``:

    Trace: start_time 4, end_time 3 (google.protobuf.Timestamp: seconds 1, nanos 2),
           duration_ns 11, root 14, field_execution_weight 31 (double)
    Node:  response_name 1 | index 2 (a oneof), original_field_name 14, type 3, parent_type 13,
           start_time 8, end_time 9, error 11, child 12
    Error: message 1, location 2 (Location: line 1, column 2), json 4
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from inspect import isawaitable
from typing import Any

import orjson
from graphql import GraphQLResolveInfo

HEADER = b"apollo-federation-include-trace"
Key = tuple[str | int, ...]


class Node:
    __slots__ = ("children", "end", "errors", "key", "original", "parent_type", "start", "type")

    def __init__(self, key: str | int | None) -> None:
        self.key = key
        self.original = ""
        self.type = ""
        self.parent_type = ""
        self.start = 0
        self.end = 0
        self.errors: list[bytes] = []
        self.children: list[Node] = []


class FieldTracer:
    """Times every field of one execution; ``encode`` gives the ``ftv1`` extension's value."""

    def __init__(self, clock_ns: Callable[[], int] = time.perf_counter_ns) -> None:
        self._clock = clock_ns
        self._started = clock_ns()
        self._wall_started = time.time_ns()
        self.root = Node(None)
        self._nodes: dict[Key, Node] = {(): self.root}

    def _node(self, key: Key) -> Node:
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = Node(key[-1])
            self._node(key[:-1]).children.append(node)
        return node

    def resolve(
        self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], **args: Any
    ) -> Any:
        """graphql-core middleware: around every field's resolver."""
        path = info.path
        node = self._node(tuple(path.as_list()))
        node.type = str(info.return_type)
        node.parent_type = info.parent_type.name
        if path.key != info.field_name:
            node.original = info.field_name  # aliased
        node.start = self._clock() - self._started
        try:
            result = next_(root, info, **args)
        except Exception:
            node.end = self._clock() - self._started
            raise
        if isawaitable(result):
            return self._finish(node, result)
        node.end = self._clock() - self._started
        return result

    async def _finish(self, node: Node, result: Awaitable[Any]) -> Any:
        try:
            return await result
        finally:
            node.end = self._clock() - self._started

    def encode(self, errors: Iterable[dict[str, Any]] = ()) -> str:
        """The trace, ended now, with ``errors`` (as the response gives them) on their fields."""
        duration = self._clock() - self._started
        for error in errors:
            path = error.get("path")
            node = self._node(tuple(path)) if path else self.root
            node.errors.append(_error(error))
        trace = b"".join(
            [
                _message(4, _timestamp(self._wall_started)),
                _message(3, _timestamp(self._wall_started + duration)),
                _uint(11, duration),
                _message(14, _node_bytes(self.root)),
                _key(31, 1) + struct.pack("<d", 1.0),
            ]
        )
        return base64.b64encode(trace).decode("ascii")


# ---------------------------------------------------------------- protobuf's wire format


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _uint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value) if value else b""


def _message(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _string(field: int, value: str) -> bytes:
    return _message(field, value.encode()) if value else b""


def _timestamp(ns: int) -> bytes:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return _uint(1, seconds) + _uint(2, nanos)


def _error(error: dict[str, Any]) -> bytes:
    parts = [_string(1, str(error.get("message", "")))]
    for location in error.get("locations") or ():
        parts.append(_message(2, _uint(1, location["line"]) + _uint(2, location["column"])))
    parts.append(_string(4, orjson.dumps(error).decode()))
    return b"".join(parts)


def _node_bytes(node: Node) -> bytes:
    if isinstance(node.key, int):
        parts = [_key(2, 0) + _varint(node.key)]  # a oneof member: written even when 0
    elif node.key is not None:
        parts = [_string(1, node.key)]
    else:
        parts = []
    parts += [
        _string(14, node.original),
        _string(3, node.type),
        _string(13, node.parent_type),
        _uint(8, node.start),
        _uint(9, node.end),
    ]
    parts += [_message(11, error) for error in node.errors]
    parts += [_message(12, _node_bytes(child)) for child in node.children]
    return b"".join(parts)
