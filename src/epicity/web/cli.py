"""`epicity serve`: run the web service (API at /api/v1, console at /, OpenAPI at /docs)."""

from __future__ import annotations

from pathlib import Path

import typer

from epicity.db import database_url

__all__ = ["serve"]


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    database: str | None = typer.Option(
        None, "--database", help="Database URL (default: EPICITY_DATABASE_URL or SQLite file)."
    ),
    store: Path | None = typer.Option(
        None, "--store", help="Location store that investigations read (an ingested store)."
    ),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Start the web service (migrates the database first)."""
    import uvicorn

    from epicity.web.app import create_app

    if store is not None and not (store / "manifest.json").exists():
        typer.echo(f"--store: {store} is not an ingested location store", err=True)
        raise typer.Exit(2)
    url = database_url(database)
    if workers == 1:
        app = create_app(url, store=store)
        typer.echo(f"epicity service on http://{host}:{port} (API docs at /docs)")
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return
    # Several workers: each process builds its own app from the environment.
    import os

    os.environ["EPICITY_DATABASE_URL"] = url
    if store is not None:
        os.environ["EPICITY_STORE"] = str(store)
    create_app(url, store=store).state.engine.dispose()  # migrate once, before the workers
    uvicorn.run(
        "epicity.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
