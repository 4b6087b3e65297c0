"""What training and serving must agree on: settings, schemas, database, versions, MOJO reader.

Nothing in this package imports Dagster or FastAPI.
"""
