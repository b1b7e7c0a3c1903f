"""The public surface: schema.graphql is what the code exports, and it holds the contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_ast_schema,
    parse,
)

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = Path(__file__).resolve().parent / "contract" / "schema-contract.graphql"
FEDERATION_PRELUDE = """
directive @key(fields: String!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @link(url: String!, as: String, import: [String], for: String) repeatable on SCHEMA
"""


def _exported() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "export-schema"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


def _load(text: str) -> GraphQLSchema:
    return build_ast_schema(parse(FEDERATION_PRELUDE + text), assume_valid=True)


def test_schema_graphql_is_the_exported_schema() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == _exported(), (
        "schema.graphql is out of date: run `stats-gateway export-schema > schema.graphql`"
    )


def test_schema_holds_the_contract_surface() -> None:
    want = _load(CONTRACT.read_text())
    have = _load((ROOT / "schema.graphql").read_text())
    gaps: list[str] = []
    for name, wtype in want.type_map.items():
        if name.startswith("__"):
            continue
        htype = have.type_map.get(name)
        if htype is None or type(htype) is not type(wtype):
            gaps.append(f"type {name}")
            continue
        if isinstance(wtype, GraphQLEnumType):
            assert isinstance(htype, GraphQLEnumType)
            gaps += [f"{name}.{v}" for v in wtype.values if v not in htype.values]
        if isinstance(wtype, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            assert isinstance(htype, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType)
            for fname, wfield in wtype.fields.items():
                hfield = htype.fields.get(fname)
                if hfield is None or str(hfield.type) != str(wfield.type):
                    gaps.append(f"{name}.{fname}")
                    continue
                for aname, warg in getattr(wfield, "args", {}).items():
                    harg = hfield.args.get(aname)  # type: ignore[union-attr]
                    if harg is None or str(harg.type) != str(warg.type):
                        gaps.append(f"{name}.{fname}({aname})")
        if isinstance(wtype, GraphQLObjectType):
            assert isinstance(htype, GraphQLObjectType)
            wants = {i.name for i in wtype.interfaces}
            gaps += [f"{name} implements {i}" for i in wants - {i.name for i in htype.interfaces}]
    assert gaps == []


def test_entities_carry_their_keys() -> None:
    sdl = (ROOT / "schema.graphql").read_text()
    for entity in (
        "ZooniverseProject",
        "ZooniverseWorkflow",
        "ZooniverseUser",
        "ZooniverseUserGroup",
        "FigshareArticle",
        "FigshareAuthor",
        "FigshareCollection",
        "FigshareGroup",
        "FigshareProject",
    ):
        assert f"type {entity}" in sdl
        line = next(line for line in sdl.splitlines() if line.startswith(f"type {entity} "))
        assert '@key(fields: "id")' in line, line
