"""`Records` on SQL (SQLite or PostgreSQL): cases, exhibits, intake jobs and the custody ledger.

A unit is one connection and one transaction. Numbers and custody sequences are allocated
under a lock that the transaction holds until it ends, so concurrent units queue instead of
colliding, and a unit that rolls back gives its number back. An exhibit number is one upsert
(`INSERT ... ON CONFLICT DO UPDATE SET last_number = last_number + 1 RETURNING`); a custody
append reads the chain's head row, seals the entry, inserts it and moves the head. A share's
download is one conditional `UPDATE ... SET downloads = downloads + 1 WHERE <usable> RETURNING`;
every other change of a share is `UPDATE ... WHERE status = <as read> AND token = <as read>`.

- PostgreSQL: the upsert locks the counter row, the head is read `FOR UPDATE`; row locks last
  until commit. Units that take two such locks in opposite orders can deadlock: PostgreSQL
  aborts one, which surfaces as `Conflict`.
- SQLite: every transaction begins `IMMEDIATE` (see `storage.database`), so writers are
  serialized by the database lock; within one process (one `SqlRecords`) they also queue on
  an asyncio lock instead of polling SQLite's busy handler. A unit that waits longer than the
  busy timeout (another process holding the lock) surfaces as `Conflict`.

Errors::

    Conflict   (evidence.errors) the unit lost a race (deadlock, serialization failure, lock
               timeout): nothing was written; run the whole unit again (`run_unit` does)
"""

from storage.records.unit import SqlRecords

__all__ = ["SqlRecords"]
