// A volunteer's classification stats with plain fetch: no library, one POST with variables.
//
//   STATS_TOKEN=demo-token-volunteer node examples/js/fetch_client.mjs
//
// Node.js 20+ has fetch built in. The same code runs in a browser as a module
// (<script type="module">): there is no process.env there, so pass the URL and the signed-in
// volunteer's token to statsQuery() yourself; the gateway answers browsers from other origins
// (GATEWAY_CORS_ORIGINS) and credentials travel in headers, never cookies.
//
// Environment: STATS_GATEWAY_URL (default http://127.0.0.1:8000/graphql), STATS_TOKEN (a Zooniverse
// bearer token: the volunteer's own, or an admin's), STATS_USER (default 1325316, the demo volunteer).

const QUERY = `
  query VolunteerStats($user: ID!, $start: Date!, $end: Date!) {
    zooniverse {
      user(id: $user) {
        classifications(startDate: $start, endDate: $end) {
          total
          timeSpent
          series(period: WEEK) { start count }
          projectContributions(orderBy: COUNT) { project { id } count }
        }
      }
    }
  }
`;

/** POST one GraphQL operation; resolves to the whole response body ({data, errors}). */
export async function statsQuery(url, query, variables, token) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  if (!response.headers.get("content-type")?.includes("application/json")) {
    throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  }
  return response.json();
}

const env = globalThis.process?.env ?? {};
const url = env.STATS_GATEWAY_URL ?? "http://127.0.0.1:8000/graphql";
const variables = { user: env.STATS_USER ?? "1325316", start: "2026-11-01", end: "2026-11-30" };

const result = await statsQuery(url, QUERY, variables, env.STATS_TOKEN);
console.log(JSON.stringify(result, null, 2));
if (result.errors?.length && globalThis.process) process.exitCode = 1;
