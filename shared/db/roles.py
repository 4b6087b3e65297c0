"""The database roles of converge's components (made by the 0003 migration) and what each may do.

PostgreSQL enforces them; this module only names them for the CLI, the docs and the tests.
"""

from __future__ import annotations

COMPONENT_ROLES = {
    "converge_ingest": "write features (history, definitions, drift events, quarantine)",
    "converge_training": "read features, register model versions; no promotion, no DDL",
    "converge_serving": "read features, the registry and the champion; nothing else",
    "converge_admin": "read everything, promote and roll back (recorded with the actor)",
}
