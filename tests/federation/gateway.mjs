// An Apollo Gateway (@apollo/gateway) serving a static supergraph on 127.0.0.1, forwarding the
// caller's credentials to the subgraphs.
//
//   node gateway.mjs --supergraph supergraph.graphql [--port N]   (default 0: any free port)
//
// Prints "gateway ready at http://127.0.0.1:PORT/" on stdout once it accepts requests.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

// The headers the stats gateway reads: the Panoptes bearer token (ERAS) and the Figshare stats
// credentials. Both are forwarded unchanged; the stats gateway decides which upstream gets which.
const PROPAGATED = ["authorization", "x-figshare-authorization"];

class CredentialForwarding extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    for (const name of PROPAGATED) {
      const value = context.headers?.[name];
      if (value) request.http.headers.set(name, value);
    }
  }
}

const { values } = parseArgs({
  options: {
    supergraph: { type: "string" },
    port: { type: "string", default: "0" },
  },
});
if (!values.supergraph) {
  console.error("gateway: --supergraph FILE is required");
  process.exit(2);
}

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(values.supergraph, "utf8"),
  buildService: ({ url }) => new CredentialForwarding({ url }),
});
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(values.port) },
  context: async ({ req }) => ({ headers: req.headers }),
});

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

console.log(`gateway ready at ${url}`);
