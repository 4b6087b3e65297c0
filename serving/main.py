"""ASGI entry point: `uvicorn serving.main:app`.

`converge serve` hands uvicorn converge's logging config; a bare `uvicorn serving.main:app` leaves
the root logger without a handler, so the same config is applied here in that case.
"""

import logging

from serving.app import create_app
from shared.logs import configure_logging
from shared.settings import get_settings

if not logging.getLogger().handlers:
    configure_logging(log_format=get_settings().converge_log_format)
app = create_app()
