// Compose a supergraph from running subgraphs with @apollo/composition, as `rover supergraph
// compose` does: each subgraph's SDL is read from its `_service { sdl }`.
//
//   node compose.mjs --out supergraph.graphql \
//     --subgraph stats=http://127.0.0.1:8000/graphql \
//     --subgraph catalogue=http://127.0.0.1:4001/ \
//     [--sdl catalogue=catalogue.graphql]
//
// --subgraph NAME=URL names a subgraph and the URL the router sends its requests to; --sdl NAME=FILE
// reads that subgraph's SDL from a file instead of asking it. Writes the supergraph SDL to --out
// (stdout without it). On composition errors, prints them to stderr and exits with status 1; on
// any other failure (a subgraph not answering, bad arguments) exits with status 2.

import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const FETCH_TIMEOUT_MS = 10_000;

function pairs(values, flag) {
  const out = new Map();
  for (const value of values ?? []) {
    const at = value.indexOf("=");
    if (at <= 0 || at === value.length - 1) throw new Error(`${flag} wants NAME=VALUE, not ${JSON.stringify(value)}`);
    out.set(value.slice(0, at), value.slice(at + 1));
  }
  return out;
}

async function fetchSdl(name, url) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: "query SubgraphSdl { _service { sdl } }" }),
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`subgraph ${name} at ${url} answered ${response.status}: ${text.slice(0, 500)}`);
  const body = JSON.parse(text);
  const sdl = body?.data?._service?.sdl;
  if (typeof sdl !== "string") throw new Error(`subgraph ${name} at ${url} returned no _service.sdl: ${text.slice(0, 500)}`);
  return sdl;
}

async function main() {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      subgraph: { type: "string", multiple: true },
      sdl: { type: "string", multiple: true },
    },
  });
  const urls = pairs(values.subgraph, "--subgraph");
  const files = pairs(values.sdl, "--sdl");
  if (urls.size === 0) throw new Error("give at least one --subgraph NAME=URL");
  for (const name of files.keys()) {
    if (!urls.has(name)) throw new Error(`--sdl ${name}: no --subgraph ${name}=URL given`);
  }

  const services = await Promise.all(
    [...urls].map(async ([name, url]) => {
      const sdl = files.has(name) ? await readFile(files.get(name), "utf8") : await fetchSdl(name, url);
      return { name, url, typeDefs: parse(sdl) };
    }),
  );

  const result = composeServices(services);
  if (result.errors?.length) {
    console.error(`composition failed with ${result.errors.length} error(s):`);
    for (const error of result.errors) {
      console.error(`- ${error.extensions?.code ?? "ERROR"}: ${error.message}`);
    }
    return 1;
  }
  for (const hint of result.hints ?? []) {
    console.error(`hint ${hint.definition.code}: ${hint.message}`);
  }
  if (values.out) {
    await writeFile(values.out, result.supergraphSdl);
    console.log(`supergraph of ${services.map((s) => s.name).join(", ")} written to ${values.out}`);
  } else {
    process.stdout.write(result.supergraphSdl);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`compose: ${error.message}`);
    process.exit(2);
  },
);
