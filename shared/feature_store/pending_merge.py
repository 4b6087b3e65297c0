"""Merge the GIN index's pending list on a second connection while an ingest writes its batches.

The backend that COPYs a batch appends each row's entries to the GIN index's pending list and,
when the list outgrows `gin_pending_list_limit`, merges it into the index itself, in the middle
of the COPY (58 % of a plain 200k-row COPY's backend CPU here). Calling
`merge_feature_index_pending()` (migration 0006) in a loop on another connection does that merge
on another backend, so on another core, and the COPY's backend skips its own merge while one runs.

PostgreSQL makes the pages a merge frees reusable only when that merge ends, and a merge ends
only once the list is empty. So before each batch is written the ingest waits until a merge has
ended since the previous batch was written (`wait_merged`): the index then never holds more than
about one batch's pending pages free. Should the second connection fail, the ingest goes on and
its own backend merges, as it does without this helper.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

_MERGE = "SELECT merge_feature_index_pending()"
# How long the helper sleeps after finding the list empty, unless the writer wakes it first.
IDLE_SECONDS = 0.02

log = logging.getLogger(__name__)

# Opens another connection to the ingest's database, as the same user.
Connect = Callable[[], psycopg.Connection]


class PendingListMerger:
    """Merges the pending list in a loop on its own thread and connection."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._changed = threading.Condition()
        self._merges_ended = 0
        self._stopping = False
        self._running = True
        self._thread = threading.Thread(target=self._run, name="converge-gin-merge", daemon=True)
        self._thread.start()

    def merges_ended(self) -> int:
        """How many merges have ended: taken once a batch is written, for `wait_merged`."""
        with self._changed:
            return self._merges_ended

    def wait_merged(self, merges_ended: int) -> None:
        """Wait until a merge ends after `merges_ended` were counted (the list was then empty)."""
        with self._changed:
            self._changed.notify_all()  # an idle helper starts its next merge now
            self._changed.wait_for(lambda: self._merges_ended > merges_ended or not self._running)

    def close(self, *, merge_first: bool) -> None:
        """Stop; with `merge_first`, once the rows written so far are merged."""
        if merge_first:
            self.wait_merged(self.merges_ended())
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()

    def _run(self) -> None:
        try:
            with self._connect() as conn:
                conn.autocommit = True
                while not self._stopping:
                    row = conn.execute(_MERGE).fetchone()
                    with self._changed:
                        self._merges_ended += 1
                        self._changed.notify_all()
                        if row is not None and row[0] == 0 and not self._stopping:
                            self._changed.wait(IDLE_SECONDS)
        except psycopg.Error as exc:
            log.warning(
                "the GIN index's pending list is merged by the writing connection itself: "
                "the second connection failed: %s",
                exc,
            )
        finally:
            with self._changed:
                self._running = False
                self._changed.notify_all()
