"""HTTP side of the serving app: dependencies, middleware and routes."""
