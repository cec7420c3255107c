"""The SQL tables of the records store (SQLAlchemy Core), shared by queries and migrations.

Times are stored as UTC and always come back timezone-aware (`UtcDateTime`); JSON columns hold
what the custody hash is computed over, so they must round-trip exactly (plain `JSON`, not
PostgreSQL's `jsonb`, which would rewrite the document).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

# Named constraints: Alembic's batch mode on SQLite rebuilds tables and needs the names.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; naive datetimes are refused.

    PostgreSQL keeps `timestamptz`; SQLite keeps text without an offset, so UTC is implied
    there and put back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json(*, nullable: bool = False) -> JSON:
    # none_as_null: a missing document is SQL NULL, never the JSON text 'null'.
    return JSON(none_as_null=True) if nullable else JSON()


cases = Table(
    "cases",
    metadata,
    Column("id", String, primary_key=True),
    Column("reference", String, nullable=False),
    Column("title", Text, nullable=False),
    Column("region", String, nullable=False),
    Column("created_by", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # The channel binding: all NULL until the case is bound to a Teams channel.
    Column("channel_id", String),
    Column("team_id", String),
    Column("graph_team_id", String),
    Column("conversation_reference", Text),
    Column("tenant_id", String),
    Column("channel_name", Text),  # the channel's display name, NULL while not known (0009)
    # The legal hold: all NULL while the case is not on hold (migration 0004).
    Column("hold_reason", Text),
    Column("hold_since", UtcDateTime),
    Column("hold_by_id", String),
    Column("hold_by_name", Text),
    UniqueConstraint("reference"),
    UniqueConstraint("channel_id"),  # NULLs are distinct on both backends
    Index("ix_cases_created_at", "created_at"),
)

exhibits = Table(
    "exhibits",
    metadata,
    Column("id", String, primary_key=True),
    Column("case_id", String, ForeignKey("cases.id"), nullable=False),
    Column("initials", String, nullable=False),
    Column("number", Integer, nullable=False),
    Column("produced_by", String, nullable=False),
    Column("produced_by_name", Text, nullable=False),
    Column("original_name", Text, nullable=False),
    Column("stored_name", Text, nullable=False),
    Column("declared_type", String, nullable=False),
    Column("detected_type", String, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String, nullable=False),
    Column("region", String, nullable=False),
    Column("blob_name", Text, nullable=False),
    Column("source", String, nullable=False),
    Column("source_details", _json(), nullable=False),
    Column("created_at", UtcDateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    UniqueConstraint("case_id", "initials", "number"),
)

exhibit_counters = Table(
    "exhibit_counters",
    metadata,
    Column("case_id", String, ForeignKey("cases.id"), nullable=False),
    Column("initials", String, nullable=False),
    Column("last_number", Integer, nullable=False),
    PrimaryKeyConstraint("case_id", "initials"),
)

intake_jobs = Table(
    "intake_jobs",
    metadata,
    Column("id", String, primary_key=True),
    Column("case_id", String, ForeignKey("cases.id"), nullable=False),
    Column("officer_id", String, nullable=False),
    Column("officer_name", Text, nullable=False),
    Column("source_kind", String, nullable=False),
    Column("source_url", Text, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("declared_type", String, nullable=False),
    Column("declared_size", BigInteger),
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("conversation_reference", Text, nullable=False),
    Column("receipt_activity_id", String),
    Column("exhibit_id", String, ForeignKey("exhibits.id")),
    Column("error", Text),
    Column("source_details", _json(nullable=True)),
    # Where the file came from (conversation, activity, attachment), hashed: a redelivered
    # activity finds its job. NULL for jobs recorded before keys existed (NULLs are distinct).
    Column("idempotency_key", String),
    UniqueConstraint("idempotency_key"),
)

# The ledger has no foreign keys on purpose: an entry may name a case or exhibit that was
# never recorded (a refused attempt), and nothing may ever cascade into it.
custody_entries = Table(
    "custody_entries",
    metadata,
    Column("chain", String, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_id", String, nullable=False),
    Column("actor_name", Text, nullable=False),
    Column("case_id", String),
    Column("exhibit_id", String),
    Column("action", String, nullable=False),
    Column("details", _json(), nullable=False),
    Column("previous_hash", String, nullable=False),
    Column("hash", String, nullable=False),
    PrimaryKeyConstraint("chain", "sequence"),
)

# One row per chain: the last sequence and hash, so deletions at the end are detectable and
# the row is what concurrent appenders lock.
custody_heads = Table(
    "custody_heads",
    metadata,
    Column("chain", String, primary_key=True),
    Column("last_sequence", Integer, nullable=False),
    Column("last_hash", String, nullable=False),
)

custody_checkpoints = Table(
    # An index of checkpoints written to the checkpoint store (evidence/anchoring.py): which
    # chains grew since, and which checkpoints must exist. Never trusted for verification.
    "custody_checkpoints",
    metadata,
    Column("chain", String, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("entry_hash", String, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("chain", "sequence"),
)

# A share of exhibits with an external recipient. Only the link token's SHA-256 is kept;
# `downloads` is moved by one conditional UPDATE so concurrent downloads respect the limit.
shares = Table(
    "shares",
    metadata,
    Column("id", String, primary_key=True),
    Column("case_id", String, ForeignKey("cases.id"), nullable=False),
    Column("exhibit_ids", _json(), nullable=False),
    Column("requested_by", String, nullable=False),
    Column("requested_by_name", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("organisation_type", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("days", Integer, nullable=False),
    Column("status", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("request_expires_at", UtcDateTime, nullable=False),
    Column("decided_by", String),
    Column("decided_by_name", Text),
    Column("decided_at", UtcDateTime),
    Column("decision_reason", Text),
    Column("token_sha256", String),
    Column("link_expires_at", UtcDateTime),
    Column("max_downloads", Integer),
    Column("downloads", Integer, nullable=False),
    Column("requester_reference", Text, nullable=False),
    Column("approval_activity_id", String),
    Column("revoked_by", String),
    Column("revoked_by_name", Text),
    Column("revoked_at", UtcDateTime),
    Column("revocation_reason", Text),
    Column("request_key", String),
    # How the recipient reaches the requesting officer, taken at the request (0009).
    Column("requester_email", Text, nullable=False, server_default=""),
    Column("requester_phone", Text, nullable=False, server_default=""),
    UniqueConstraint("token_sha256"),  # NULL until approved; NULLs are distinct
    UniqueConstraint("request_key"),  # a form submitted twice, a message redelivered
    Index("ix_shares_case_id_created_at", "case_id", "created_at"),
    Index("ix_shares_status_link_expires_at", "status", "link_expires_at"),
)

# Refused attempts per officer, case and fixed window (`evidence.refusals`): the ledger lists
# the first few of a window, this counts them all. Mutable on purpose, and outside the ledger.
refusal_tallies = Table(
    "refusal_tallies",
    metadata,
    Column("chain", String, nullable=False),
    Column("actor_id", String, nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    PrimaryKeyConstraint("chain", "actor_id", "window_start"),
)

# The integrity sweep's progress, one row (`name`): the pass under way or last finished, and the
# lease (owner, expiry) that lets exactly one worker sweep at a time.
integrity_sweeps = Table(
    "integrity_sweeps",
    metadata,
    Column("name", String, primary_key=True),
    Column("pass_id", String),
    Column("started_at", UtcDateTime),
    Column("cursor", String),
    Column("finished_at", UtcDateTime),
    Column("checked", Integer, nullable=False),
    Column("mismatches", Integer, nullable=False),
    Column("bytes_read", BigInteger, nullable=False),
    Column("lease_owner", String),
    Column("lease_expires_at", UtcDateTime),
)

# Mismatches the sweep found, kept until posted to every channel still flagged: an alert that
# cannot be sent is tried again, never lost. The finding itself is in the custody chain.
integrity_alerts = Table(
    "integrity_alerts",
    metadata,
    Column("id", String, primary_key=True),
    Column("pass_id", String, nullable=False),
    Column("case_id", String, nullable=False),
    Column("exhibit_id", String, nullable=False),
    Column("exhibit_ref", String, nullable=False),
    Column("region", String, nullable=False),
    Column("expected_sha256", String, nullable=False),
    Column("expected_size", BigInteger, nullable=False),
    Column("found_sha256", String),
    Column("found_size", BigInteger),
    Column("problem", Text, nullable=False),
    Column("found_at", UtcDateTime, nullable=False),
    Column("to_case_channel", Boolean, nullable=False),
    Column("to_security_channel", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Index("ix_integrity_alerts_found_at", "found_at"),
)

# Durable background jobs (evidence/jobs.py): claimed with a lease by one runner at a time. The
# dedupe key is unique among unfinished jobs only (a partial index), so the same request made
# twice while the first is queued or running makes one job, and may be made again afterwards.
UNFINISHED_JOB = text("state IN ('queued', 'running')")
background_jobs = Table(
    "background_jobs",
    metadata,
    Column("id", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("dedupe_key", String, nullable=False),
    Column("payload", _json(), nullable=False),
    Column("officer_id", String, nullable=False),
    Column("reference", Text, nullable=False),
    Column("note", Text),
    Column("state", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String),
    Column("lease_until", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("outcome", String),
    Index("ix_background_jobs_state_due_at", "state", "due_at"),
)


@cache
def open_job_key_index() -> Index:
    """The unique key of unfinished jobs: a partial index (migration 0010 makes it).

    Attached to `background_jobs` only when asked for, by Alembic's environment and the schema
    test: its `postgresql_where` loads SQLAlchemy's whole PostgreSQL dialect, which a SQLite
    service never needs and which costs every cold start (BENCHMARKS.md, P5). Nothing at run
    time needs it in the metadata: a job is inserted with a bare ON CONFLICT DO NOTHING.
    """
    return Index(
        "ux_background_jobs_open_key",
        background_jobs.c.dedupe_key,
        unique=True,
        sqlite_where=UNFINISHED_JOB,
        postgresql_where=UNFINISHED_JOB,
    )


# Single-runner leases for periodic passes every instance would otherwise run (the share
# sweeper, the checkpoint round): the holder runs the pass, the others wait for the lease.
service_leases = Table(
    "service_leases",
    metadata,
    Column("name", String, primary_key=True),
    Column("owner", String),
    Column("expires_at", UtcDateTime),
)
