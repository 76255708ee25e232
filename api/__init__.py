"""FastAPI service, database, workers, dashboard, client and CLI."""
