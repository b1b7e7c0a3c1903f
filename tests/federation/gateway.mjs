// An Apollo Gateway (@apollo/gateway) serving a static supergraph on 127.0.0.1. It forwards the
// caller's credentials to the stats subgraph, and to no other.
//
//   node gateway.mjs --supergraph supergraph.graphql [--port N] [--stats-subgraph NAME]
//
// --port defaults to 0 (any free port); --stats-subgraph names the stats gateway's subgraph in the
// supergraph (default "stats"). Prints "gateway ready at http://127.0.0.1:PORT/" on stdout once it
// accepts requests.
//
// A request with "x-capture-traces: 1" makes the gateway ask every subgraph it calls for its
// federated trace (apollo-federation-include-trace: ftv1), as it does when it reports to GraphOS;
// the traces it decoded come back in the response's extensions.subgraphTraces, one per fetch:
// { service, traceParsingFailed, trace } (trace: the decoded Trace message as JSON).

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

// The headers the stats gateway reads: the Panoptes bearer token (for ERAS) and the Figshare stats
// credentials. Both go unchanged; the stats gateway decides which upstream gets which.
const PROPAGATED = ["authorization", "x-figshare-authorization"];

class CredentialForwarding extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    for (const name of PROPAGATED) {
      const value = context.headers?.[name];
      if (value) request.http.headers.set(name, value);
    }
  }
}

// Every fetch node of a query plan's trace, depth first.
function fetches(node, found = []) {
  if (!node || typeof node !== "object") return found;
  if (node.fetch) {
    found.push({
      service: node.fetch.serviceName,
      traceParsingFailed: Boolean(node.fetch.traceParsingFailed),
      trace: node.fetch.trace ? node.fetch.trace.toJSON() : null,
    });
  }
  for (const child of [...(node.sequence?.nodes ?? []), ...(node.parallel?.nodes ?? [])]) fetches(child, found);
  fetches(node.flatten?.node, found);
  fetches(node.condition?.ifClause, found);
  fetches(node.condition?.elseClause, found);
  return found;
}

const captureTraces = {
  async requestDidStart({ request, metrics }) {
    if (request.http?.headers.get("x-capture-traces") !== "1") return;
    metrics.captureTraces = true;
    return {
      async willSendResponse({ response, metrics }) {
        if (response.body.kind !== "single") return;
        const result = response.body.singleResult;
        result.extensions = { ...(result.extensions ?? {}), subgraphTraces: fetches(metrics.queryPlanTrace) };
      },
    };
  },
};

const { values } = parseArgs({
  options: {
    supergraph: { type: "string" },
    port: { type: "string", default: "0" },
    "stats-subgraph": { type: "string", default: "stats" },
  },
});
if (!values.supergraph) {
  console.error("gateway: --supergraph FILE is required");
  process.exit(2);
}

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(values.supergraph, "utf8"),
  buildService: ({ name, url }) =>
    name === values["stats-subgraph"] ? new CredentialForwarding({ url }) : new RemoteGraphQLDataSource({ url }),
});
const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false, plugins: [captureTraces] });
const { url } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(values.port) },
  // Incoming header names are lower-case in Node.js.
  context: async ({ req }) => ({ headers: req.headers }),
});

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

console.log(`gateway ready at ${url}`);
