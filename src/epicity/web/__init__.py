"""The web service: a FastAPI application over the domain services (API and console pages)."""
