"""The composition root: every part of Exhibit built from `Settings`, and closed on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from aiohttp import ClientSession, ClientTimeout, DummyCookieJar, web
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator

from bot.agent import ExhibitAgent
from bot.case_teams import CaseTeams
from bot.edge import Edge, InboundPolicy, TokenValidator, add_message_route
from bot.exports import Exports
from bot.integrity_alerts import ChannelAlerts, security_channel_reference
from bot.jobs import register_jobs
from bot.proactive import Proactive
from bot.receipts import ReceiptReports
from bot.services import BotSettings, Services
from cards.models import MODULE as CARD_MODELS
from documents.export import BundleSources
from evidence.cases import CaseRules
from evidence.checkpoints import CheckpointSigner
from evidence.officers import Role
from evidence.ports import Directory
from exhibit.bot_auth import ProviderFactory, auth_configuration, build_adapter, token_issuers
from exhibit.health import READY, Probe, add_health_routes
from exhibit.log_config import NO_APP_ID, drop_repeated_no_app_id_warning
from exhibit.public_key import add_public_key_routes
from exhibit.settings import GraphSettings, Settings
from exhibit.telemetry import enabled as telemetry_enabled
from graph.config import CredentialKind, GraphDirectoryConfig
from graph.local import LocalDirectory
from graph.upload_session import DEFAULT_CHUNK, UploadSession
from links.site import SharePages, add_share_routes
from signing.factory import open_signer
from signing.published import PublishedKeys
from storage.blobs import RegionAccount, RegionalBlobServices, blob_service
from storage.bundles import BlobBundleStore
from storage.checkpoints import BlobCheckpointStore
from storage.database import create_engine, entra_password, ping
from storage.evidence_store import BlobEvidenceStore
from storage.host_allow_list import HostAllowList
from storage.immutability import RegionImmutability
from storage.queue import SDK as QUEUE_SDK
from storage.queue import IngestQueue
from storage.records import SqlRecords
from storage.sas import BlobSasSigner
from storage.schema_version import schema_is_current
from storage.sources import HttpSource, Pace
from worker.background import Background
from worker.consumer import IntakeWorker
from worker.integrity import IntegritySweep, SweepOptions, SweepParts
from worker.jobs import JobOptions, JobRunner
from worker.options import WorkerOptions
from worker.ports import SourceOpener, WorkerParts
from worker.sources import TeamsSources
from worker.sweeper import keep_anchored, sweep_shares
from worker.telemetry import watch_backlog

if TYPE_CHECKING:  # imported where used: Graph's SDKs and azure-identity are seconds of start-up
    from azure.identity.aio import DefaultAzureCredential

    from graph.graph_directory import GraphDirectory

logger = logging.getLogger(__name__)


def bot_settings(settings: Settings) -> BotSettings:
    """The part of the settings the conversation uses."""
    return BotSettings(
        share_domains=settings.share_domains,
        share_organisation_types=settings.share_organisation_types,
        share_days=settings.share_days,
        verify_inline_bytes=settings.verify_inline_bytes,
        public_url=settings.public_url,
        classification=settings.classification,
        force_name=settings.force_name,
        share_contact=settings.share_contact,
    )


async def create_app(
    settings: Settings,
    *,
    token_validator: TokenValidator | None = None,
    provider_factory: ProviderFactory = MsalAuth,
    directory: Directory | None = None,
    sources: SourceOpener | None = None,
    start_worker: bool = True,
    upload_chunk_size: int = DEFAULT_CHUNK,
) -> web.Application:
    """The aiohttp application for `settings`, with every adapter open.

    Tests may inject token validation, outbound token providers (the two seams at the Entra
    boundary) and the directory.
    """
    config = auth_configuration(settings)
    if settings.production and settings.trusted_proxy_hops == 0:
        logger.warning(
            "EXHIBIT_TRUSTED_PROXY_HOPS is 0 in production: behind a reverse proxy every link "
            "visitor shares the proxy's address, so one client can rate-limit everyone and the "
            "custody ledger records the proxy, not the recipient. Set it to the number of "
            "proxies in front of Exhibit."
        )
    if settings.allow_anonymous:
        logger.warning(
            "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS is on: requests WITHOUT a token are accepted. "
            "Never run like this outside a developer machine. (Without an app id the Agents "
            'SDK would also warn "%s" on every request; it is said only here.)',
            NO_APP_ID,
        )
        drop_repeated_no_app_id_warning()
    # Closed last-opened first, each even when an earlier one fails to close.
    resources = contextlib.AsyncExitStack()
    try:
        if directory is None:
            directory, close_directory = await open_directory(settings)
            resources.push_async_callback(close_directory)
        graph_directory = _graph_directory(directory)
        channel_creator = graph_directory if settings.create_case_channels else None
        storage_identity = await open_identity(settings, resources)
        engine = create_engine(
            settings.database_url.get_secret_value(),
            password=entra_password(storage_identity)
            if settings.database_entra_auth and storage_identity is not None
            else None,
        )
        resources.push_async_callback(engine.dispose)
        signer = await open_checkpoint_signer(settings, resources, storage_identity)
        published_keys = await asyncio.to_thread(
            PublishedKeys.of, signer, settings.checkpoint_earlier_keys_dir
        )
        blobs = await open_blobs(settings, resources, storage_identity)
        immutability = RegionImmutability(
            blobs, {region.name: region.immutability_days for region in settings.regions}
        )
        store = BlobEvidenceStore(blobs, immutability=immutability)
        checkpoint_store = BlobCheckpointStore(blobs, immutability=immutability)
        checkpoint_signer = signer
        queue_key = settings.queue_connection_string
        if queue_key is not None:
            queue = IngestQueue.from_connection_string(
                queue_key.get_secret_value(), settings.queue_name
            )
        else:
            assert settings.queue_account_url is not None  # noqa: S101 (checked by settings)
            assert storage_identity is not None  # noqa: S101 (made above for this case)
            queue = IngestQueue.from_account_url(
                settings.queue_account_url, settings.queue_name, storage_identity
            )
        resources.push_async_callback(queue.aclose)
        # No cookie jar: one officer's download must never carry cookies from another's.
        session = ClientSession(
            timeout=ClientTimeout(total=None, sock_connect=15, sock_read=60),
            cookie_jar=DummyCookieJar(),
        )
        resources.push_async_callback(session.close)
        probes = [Probe("database", lambda: ping(engine))]
        probes += [Probe(f"storage:{name}", _blob_probe(blobs, name)) for name in blobs.regions]
        if not await schema_is_current(engine):
            from storage.migrate import migrate  # Alembic: only when there is work for it

            await migrate(engine)
        adapter = build_adapter(settings, config, provider_factory)
        teams_sources = await _teams_sources(settings, session, config, provider_factory, resources)
        mailer = None
        if settings.graph is not None and settings.share_mail_from is not None:
            from graph.mail import open_graph_mailer

            mailer = await open_graph_mailer(graph_config(settings.graph), settings.share_mail_from)
            resources.push_async_callback(mailer.aclose)
        proactive = Proactive(
            adapter, settings.credentials.app_id if settings.credentials else None
        )
        exports = Exports(
            sources=BundleSources(store, checkpoint_store, checkpoint_signer),
            shelf=BlobBundleStore(blobs),
            uploader=UploadSession(
                session,
                HostAllowList.of(
                    settings.download_hosts,
                    dangerously_allow_http_on_loopback=not settings.production,
                ).check,
                chunk_size=upload_chunk_size,
            ),
        )
        background = Background()  # only for bundle uploads (see `Services.background`)
        # Closed first: its work still needs the rest.
        resources.push_async_callback(background.aclose)
        records = SqlRecords(engine)  # one per process: on SQLite its writers queue in-process
        jobs = JobRunner(records, job_options(settings))
        services = Services(
            settings=bot_settings(settings),
            directory=directory,
            records=records,
            case_teams=CaseTeams(
                directory,
                use_graph=settings.graph is not None,
                ttl=settings.case_team_seconds,
                channel_turn=proactive.run,
            ),
            case_rules=CaseRules(
                reference_pattern=settings.case_reference_pattern,
                reference_example=settings.case_reference_example,
                title_max=settings.case_title_max,
                regions=tuple(region.name for region in settings.regions),
                default_region=settings.default_region,
            ),
            proactive=proactive,
            channel_creator=channel_creator,
            channel_names=graph_directory,
            evidence_store=store,
            holds=immutability,
            ingest_queue=queue,
            checkpoint_signer=checkpoint_signer,
            checkpoint_store=checkpoint_store,
            graph_files=teams_sources.graph_files,
            mailer=mailer,
            exports=exports,
            background=background,
            jobs=jobs,
        )
        register_jobs(services)
        worker = IntakeWorker(
            WorkerParts(
                records=services.records,
                queue=queue,
                store=store,
                reports=ReceiptReports(services),
                now=services.now,
                checkpoint_signer=checkpoint_signer,
                checkpoint_store=checkpoint_store,
            ),
            sources or teams_sources,
            WorkerOptions(
                max_attempts=settings.intake_max_attempts,
                hold_seconds=settings.intake_hold_seconds,
                drain_seconds=settings.intake_drain_seconds,
                max_file_bytes=settings.max_file_bytes,
                concurrency=settings.intake_limits.concurrency,
                slots_per_officer=settings.intake_limits.slots_per_officer,
            ),
        )
        sweep = IntegritySweep(
            SweepParts(
                records=services.records,
                store=store,
                alerts=ChannelAlerts(proactive, _security_channel(settings)),
                anchoring=services.anchoring,
            ),
            sweep_options(settings),
        )

        app = web.Application(client_max_size=settings.max_request_bytes)
        edge = Edge(
            adapter=adapter,
            agent=ExhibitAgent(services),
            policy=InboundPolicy(
                validator=token_validator or JwtTokenValidator(config),
                allow_anonymous=settings.allow_anonymous,
                allowed_tenants=settings.allowed_tenants,
                issuers=token_issuers(settings),
            ),
        )
    except BaseException:
        await resources.aclose()
        raise

    async def close(_app: web.Application) -> None:
        await resources.aclose()

    add_share_routes(
        app,
        SharePages(
            records=services.records,
            signer=BlobSasSigner(blobs),
            classification=settings.classification,
            force_name=settings.force_name,
            contact=settings.share_contact,
            now=services.now,
            proxy_hops=settings.trusted_proxy_hops,
        ),
    )
    add_public_key_routes(app, published_keys)
    app[WORKER] = worker
    app[SERVICES] = services
    app[CHECKPOINT_SECONDS] = settings.checkpoint_minutes * 60.0
    app[INTEGRITY_SWEEP] = sweep
    if settings.run_worker and start_worker:
        app.cleanup_ctx.append(_run_worker)
        app.cleanup_ctx.append(_run_jobs)
        if settings.sweep_enabled:
            app.cleanup_ctx.append(_run_integrity_sweep)
    if start_worker:
        app.cleanup_ctx.append(_run_sweeper)
    app[QUEUE] = queue
    if telemetry_enabled() is not None:
        app.cleanup_ctx.append(_watch_backlog)
    app.on_cleanup.append(close)
    add_message_route(app, edge)
    add_health_routes(app, probes)
    app.cleanup_ctx.append(_warm_up)
    return app


WORKER = web.AppKey("worker", IntakeWorker)
BOT_FRAMEWORK = "https://api.botframework.com"


async def _teams_sources(
    settings: Settings,
    session: ClientSession,
    config: AgentAuthConfiguration,
    provider_factory: ProviderFactory,
    resources: contextlib.AsyncExitStack,
) -> TeamsSources:
    """Downloads restricted to the configured hosts; Graph for channel files when available."""
    allowed = HostAllowList.of(
        settings.download_hosts, dangerously_allow_http_on_loopback=not settings.production
    )
    http = HttpSource(session, allowed, max_size=settings.max_file_bytes, pace=_pace(settings))
    graph_files = None
    if settings.graph is not None:
        from graph.files import open_graph_file_source

        graph_files = await open_graph_file_source(graph_config(settings.graph), http)
        resources.push_async_callback(graph_files.aclose)
    provider = None if settings.credentials is None else provider_factory(config)

    async def bot_token() -> str | None:
        if provider is None:
            return None
        return await provider.get_access_token(BOT_FRAMEWORK, [f"{BOT_FRAMEWORK}/.default"])

    return TeamsSources(http, graph_files, bot_token)


def _pace(settings: Settings) -> Pace:
    limits = settings.intake_limits
    return Pace(
        min_rate=limits.download_min_bytes_per_second,
        rate_window=limits.download_rate_window_seconds,
        total_timeout=limits.download_timeout_seconds,
    )


async def _run_worker(app: web.Application) -> AsyncIterator[None]:
    """The ingest worker inside the bot process, stopped before resources close."""
    stop = asyncio.Event()
    task = _start_when_ready(app, stop, lambda: app[WORKER].run(stop))
    yield
    stop.set()
    await task


SERVICES = web.AppKey("services", Services)
CHECKPOINT_SECONDS = web.AppKey("checkpoint_seconds", float)


async def _run_sweeper(app: web.Application) -> AsyncIterator[None]:
    """The share sweeper and the checkpoint round (each run by the one instance holding its
    lease), stopped before resources close."""
    services = app[SERVICES]
    stop = asyncio.Event()
    owner = services.jobs.owner
    records, now = services.records, services.now
    tasks = [
        _start_when_ready(app, stop, lambda: sweep_shares(records, now, stop, owner=owner)),
        _start_when_ready(
            app,
            stop,
            lambda: keep_anchored(
                services.anchoring,
                stop,
                app[CHECKPOINT_SECONDS],
                records=records,
                now=now,
                owner=owner,
            ),
        ),
    ]
    yield
    stop.set()
    await asyncio.gather(*tasks)


async def _run_jobs(app: web.Application) -> AsyncIterator[None]:
    """The background job runner beside the in-process worker; stopped (a job under way
    cancelled, its lease left to expire for another runner) before resources close."""
    stop = asyncio.Event()
    task = _start_when_ready(app, stop, lambda: app[SERVICES].jobs.run(stop))
    yield
    stop.set()
    await task


def job_options(settings: Settings) -> JobOptions:
    """How background jobs are run, from the settings."""
    return JobOptions(
        lease=timedelta(seconds=settings.job_lease_seconds),
        max_attempts=settings.job_max_attempts,
        concurrency=settings.job_concurrency,
        poll_seconds=float(settings.job_poll_seconds),
        backoff=timedelta(seconds=settings.job_backoff_seconds),
    )


INTEGRITY_SWEEP = web.AppKey("integrity_sweep", IntegritySweep)
QUEUE = web.AppKey("queue", IngestQueue)


# Background work and the warm-up begin with the first `/readyz` 200, so that they do not hold
# a starting service back (BENCHMARKS.md, P5); where nothing probes readiness (a developer's
# machine), this long after start.
UNPROBED_START_SECONDS = 5.0
# Loaded on first use so that a starting service is ready sooner, then loaded anyway once it is.
ON_FIRST_USE = (CARD_MODELS, QUEUE_SDK, "jinja2")


def _start_when_ready(
    app: web.Application, stop: asyncio.Event, work: Callable[[], Awaitable[None]]
) -> asyncio.Task[None]:
    """Run `work()` once the service is ready (see `UNPROBED_START_SECONDS`), unless `stop` is
    set first."""

    async def run() -> None:
        waits = [asyncio.ensure_future(app[READY].wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(
                waits, timeout=UNPROBED_START_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for wait in waits:
                wait.cancel()
        if not stop.is_set():
            await work()

    return asyncio.create_task(run())


async def _warm_up(app: web.Application) -> AsyncIterator[None]:
    """Import what was left to first use, off the event loop, once the service is ready."""

    async def imports() -> None:
        for module in ON_FIRST_USE:
            await asyncio.to_thread(importlib.import_module, module)

    stop = asyncio.Event()
    task = _start_when_ready(app, stop, imports)
    yield
    stop.set()
    await task


async def _watch_backlog(app: web.Application) -> AsyncIterator[None]:
    """The queue gauges' figures, read every minute (only when telemetry is on)."""
    stop = asyncio.Event()
    task = _start_when_ready(app, stop, lambda: watch_backlog(app[QUEUE], app[SERVICES].now, stop))
    yield
    stop.set()
    await task


def sweep_options(settings: Settings) -> SweepOptions:
    """The integrity sweep's pace, period and lease from the settings."""
    return SweepOptions(
        bytes_per_second=settings.sweep_bytes_per_second,
        period=timedelta(hours=settings.sweep_period_hours),
        lease=timedelta(seconds=settings.sweep_lease_seconds),
    )


def _security_channel(settings: Settings) -> str | None:
    """The security channel's conversation reference, when one is set."""
    if settings.security_channel is None:
        return None
    service_url, channel_id = settings.security_channel
    tenant = settings.bot_tenant_id or min(settings.allowed_tenants)
    return security_channel_reference(service_url, channel_id, tenant, settings.bot_app_id)


async def _run_integrity_sweep(app: web.Application) -> AsyncIterator[None]:
    """The integrity sweep beside the in-process worker; cancelled (lease given up) on stop."""
    stop = asyncio.Event()
    task = _start_when_ready(app, stop, lambda: app[INTEGRITY_SWEEP].run(stop))
    yield
    await _stop_sweep(stop, task)


async def _stop_sweep(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    # Cancelled, not awaited to the end: a pass may be mid-read for minutes. What it was
    # reading is not recorded, so the next holder of the lease reads it again.
    stop.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run_worker_alone(settings: Settings) -> None:
    """An ingest worker (with the background job runner and the integrity sweep) without the
    HTTP service, until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before start-up: a stop then is clean too
        loop.add_signal_handler(sig, stop.set)
    app = await create_app(settings, start_worker=False)
    # Frozen, so that cleanup() closes every resource (an unfrozen app's cleanup() runs only
    # its cleanup contexts, leaving the database engine and HTTP sessions open).
    app.freeze()
    logger.info("Ingest worker started")
    sweep = None
    if settings.sweep_enabled:
        sweep = asyncio.create_task(app[INTEGRITY_SWEEP].run(stop))
    jobs = asyncio.create_task(app[SERVICES].jobs.run(stop))
    backlog = None
    if telemetry_enabled() is not None:
        backlog = asyncio.create_task(watch_backlog(app[QUEUE], app[SERVICES].now, stop))
    try:
        await app[WORKER].run(stop)
    finally:
        stop.set()
        await jobs
        if sweep is not None:
            await _stop_sweep(stop, sweep)
        if backlog is not None:
            await backlog
        await app.cleanup()
    logger.info("Ingest worker stopped")


async def open_identity(
    settings: Settings, resources: contextlib.AsyncExitStack
) -> DefaultAzureCredential | None:
    """The service's Entra identity, when anything is reached with it (closed with `resources`).

    Managed or workload identity in Azure: storage roles on what is reached by URL, a login role
    on the database, Key Vault Crypto User on the checkpoint key.
    """
    if not (
        settings.database_entra_auth
        or settings.queue_connection_string is None
        or any(region.connection_string is None for region in settings.regions)
        or settings.checkpoint_key_vault_key is not None
    ):
        return None
    from azure.identity.aio import DefaultAzureCredential

    identity = DefaultAzureCredential()
    resources.push_async_callback(identity.close)
    return identity


async def open_blobs(
    settings: Settings,
    resources: contextlib.AsyncExitStack,
    identity: DefaultAzureCredential | None,
) -> RegionalBlobServices:
    """One Blob client per region (by connection string, or by URL with `identity`)."""
    blobs = RegionalBlobServices(
        {
            region.name: blob_service(
                RegionAccount(
                    region.name,
                    region.connection_string.get_secret_value()
                    if region.connection_string
                    else None,
                    region.account_url,
                ),
                identity,
            )
            for region in settings.regions
        }
    )
    resources.push_async_callback(blobs.aclose)
    return blobs


async def open_checkpoint_signer(
    settings: Settings,
    resources: contextlib.AsyncExitStack,
    identity: DefaultAzureCredential | None,
) -> CheckpointSigner:
    """The checkpoint key: Key Vault in production, a key file in development."""
    signer, close_signer = await open_signer(
        settings.signer_config(production=settings.production), identity
    )
    resources.push_async_callback(close_signer)
    return signer


async def open_directory(settings: Settings) -> tuple[Directory, Callable[[], Awaitable[None]]]:
    """The directory the settings name, and how to close it."""
    if settings.graph is None:
        local = await LocalDirectory.load(settings.local_directory_file)
        return local, _nothing_to_close
    from graph.graph_directory import open_graph_directory

    directory = await open_graph_directory(graph_config(settings.graph))
    return directory, directory.aclose


def _graph_directory(directory: Directory) -> GraphDirectory | None:
    """`directory` when it is Microsoft Graph's (which loads Graph's SDKs only when used)."""
    module = sys.modules.get("graph.graph_directory")
    if module is not None and isinstance(directory, module.GraphDirectory):
        return cast("GraphDirectory", directory)
    return None


def graph_config(graph: GraphSettings) -> GraphDirectoryConfig:
    """The Graph adapters' configuration from the settings."""
    return GraphDirectoryConfig(
        credential_kind=CredentialKind(graph.credential.value),
        tenant_id=graph.tenant_id,
        client_id=graph.client_id,
        client_secret=graph.client_secret.get_secret_value() if graph.client_secret else None,
        certificate_path=graph.certificate_path,
        authority_host=graph.authority_host,
        ca_bundle=graph.ca_bundle,
        base_url=graph.base_url,
        role_groups={group: Role(role) for group, role in graph.role_groups},
        cache_ttl=float(graph.cache_seconds),
    )


async def _nothing_to_close() -> None:
    return None


def _blob_probe(blobs: RegionalBlobServices, region: str) -> Callable[[], Awaitable[None]]:
    return lambda: blobs.ping(region)
