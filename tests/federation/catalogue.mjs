// A small second subgraph for the federation tests: a catalogue that owns the human names of
// things whose stats the gateway serves (ZooniverseProject.name, FigshareArticle.title) and lists
// a few of each.
//
//   node catalogue.mjs [--port N]      (default 0: any free port; always on 127.0.0.1)
//
// Prints "catalogue ready at http://127.0.0.1:PORT/" on stdout once it accepts requests.

import { parseArgs } from "node:util";

import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginCacheControl } from "@apollo/server/plugin/cacheControl";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

const typeDefs = parse(`#graphql
  extend schema
    @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  type Query {
    "A few Zooniverse projects, in catalogue order."
    featuredProjects(limit: Int! = 3): [ZooniverseProject!]!
    "A few Figshare articles, in catalogue order."
    featuredArticles(limit: Int! = 3): [FigshareArticle!]!
  }

  type ZooniverseProject @key(fields: "id") {
    id: ID!
    "The project's name; null when the catalogue does not know the project."
    name: String
  }

  type FigshareArticle @key(fields: "id") {
    id: ID!
    "The article's title; null when the catalogue does not know the article."
    title: String
  }
`);

// Ids of the stats gateway's demo data (gateway/emulators/eras_data.py, figshare_data.py).
const PROJECTS = new Map([
  ["1234", "Galaxy Census"],
  ["335", "Savanna Camera Traps"],
  ["1613", "Penguin Colony Watch"],
  ["1783", "Old Weather Logs"],
  ["1952", "Planet Hunters Archive"],
  ["1972", "Seabird Nest Count"],
  ["2210", "Notes from the Herbarium"],
  ["4321", "Cloud Spotting"],
]);

const ARTICLES = new Map([
  ["766364", "Soil moisture readings, 2019-2024"],
  ["766365", "Coastal erosion survey images"],
  ["766366", "Code for the erosion model"],
]);

const project = (id) => ({ __typename: "ZooniverseProject", id, name: PROJECTS.get(String(id)) ?? null });
const article = (id) => ({ __typename: "FigshareArticle", id, title: ARTICLES.get(String(id)) ?? null });

const resolvers = {
  Query: {
    featuredProjects: (_, { limit }) => [...PROJECTS.keys()].slice(0, Math.max(0, limit)).map(project),
    featuredArticles: (_, { limit }) => [...ARTICLES.keys()].slice(0, Math.max(0, limit)).map(article),
  },
  ZooniverseProject: { __resolveReference: ({ id }) => project(id) },
  FigshareArticle: { __resolveReference: ({ id }) => article(id) },
};

const { values } = parseArgs({ options: { port: { type: "string", default: "0" } } });

const server = new ApolloServer({
  schema: buildSubgraphSchema({ typeDefs, resolvers }),
  // Catalogue entries change rarely: every answer may be cached for an hour. Inline tracing stays
  // on, as Apollo subgraphs have it: asked for ftv1, this subgraph answers with its trace, as the
  // stats gateway does.
  plugins: [ApolloServerPluginCacheControl({ defaultMaxAge: 3600 })],
});
const { url } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(values.port) },
});

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

console.log(`catalogue ready at ${url}`);
