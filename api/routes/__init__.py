"""The API's routers, one per group of endpoints; `api.app.create_app` includes them in this order:
`docs` (Swagger UI at /docs), `health`, `studies`, `trials`, `reports` (what a study produced: events,
importance, effects, export). What they depend on is in `api.deps`."""
