"""Field arguments to upstream requests, and answers to schema values: one module a source."""
