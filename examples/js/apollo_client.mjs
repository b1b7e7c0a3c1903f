// Apollo Client with automatic persisted queries: the query text goes over the wire once, then
// only its sha256 hash, by GET, so answers can be cached by URL along the way.
//
//   npm ci --prefix examples/js
//   node examples/js/apollo_client.mjs
//
// The first run sends the hash alone; the gateway does not know it yet (PERSISTED_QUERY_NOT_FOUND),
// so Apollo Client sends the hash with the query, and the gateway registers it. The second run
// sends the hash alone again, and this time it is answered. Both print the same data.
//
// Environment: STATS_GATEWAY_URL (default http://127.0.0.1:8000/graphql), STATS_TOKEN (a
// Zooniverse bearer token, sent as Authorization when set), STATS_TRACE=1 (print each request's
// method and whether it carried the query text, on stderr).

import { createHash } from "node:crypto";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

const env = process.env;
const url = env.STATS_GATEWAY_URL ?? "http://127.0.0.1:8000/graphql";

const PROJECT_CLASSIFICATIONS = gql`
  query ProjectClassifications($project: ID!, $start: Date!, $end: Date!) {
    zooniverse {
      project(id: $project) {
        classifications(startDate: $start, endDate: $end) {
          total
          series(period: MONTH) { start count }
        }
      }
    }
  }
`;

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function tracingFetch(input, init) {
  const target = new URL(typeof input === "string" ? input : input.url);
  const method = init?.method ?? "GET";
  const carriesQuery = method === "GET" ? target.searchParams.has("query") : JSON.parse(init.body).query != null;
  console.error(`${method} ${carriesQuery ? "hash and query" : "hash only"}`);
  return fetch(input, init);
}

const headers = env.STATS_TOKEN ? { Authorization: `Bearer ${env.STATS_TOKEN}` } : {};
const link = createPersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
  new HttpLink({ uri: url, headers, fetch: env.STATS_TRACE ? tracingFetch : fetch }),
);
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const variables = { project: "1234", start: "2026-01-01", end: "2026-11-30" };
try {
  for (const run of ["first", "second"]) {
    if (env.STATS_TRACE) console.error(`${run} run:`);
    // no-cache: ask the gateway each time, rather than Apollo Client's own cache.
    const { data } = await client.query({ query: PROJECT_CLASSIFICATIONS, variables, fetchPolicy: "no-cache" });
    console.log(JSON.stringify(data));
  }
} catch (error) {
  // GraphQL errors (CombinedGraphQLErrors) or a failed request (ServerError, with the body).
  console.error(`${error.name}: ${error.message}${error.bodyText ? ` (${error.bodyText})` : ""}`);
  process.exitCode = 1;
}
