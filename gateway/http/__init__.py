"""``/graphql`` as GraphQL over HTTP: the view, its request parameters, persisted queries, the
response cache, the explorer page, and ``/readyz``'s report."""
