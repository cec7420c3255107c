# Exhibit's container image: one image, three roles by command (serve, worker, migrate).
#
# The build needs no network: it installs the runtime lock (requirements-runtime.lock) from
# wheels already in the build context (dist/wheels/), hash-checked. README, "Container image",
# says how to fill dist/wheels/ and how to build and run it.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY requirements-runtime.lock /build/requirements-runtime.lock
COPY dist/wheels/ /build/wheels/
RUN python3 -m venv /opt/exhibit/venv \
 && /opt/exhibit/venv/bin/python -m pip install --no-index --find-links /build/wheels \
      --require-hashes --no-deps --only-binary=:all: --no-compile -r /build/requirements-runtime.lock \
 && /opt/exhibit/venv/bin/python -m pip uninstall --yes --quiet pip
COPY exhibit/ /opt/exhibit/app/exhibit/
COPY evidence/ /opt/exhibit/app/evidence/
COPY bot/ /opt/exhibit/app/bot/
COPY cards/ /opt/exhibit/app/cards/
COPY storage/ /opt/exhibit/app/storage/
COPY graph/ /opt/exhibit/app/graph/
COPY worker/ /opt/exhibit/app/worker/
COPY links/ /opt/exhibit/app/links/
COPY signing/ /opt/exhibit/app/signing/
COPY documents/ /opt/exhibit/app/documents/
# Byte-compiled now: the root filesystem is read-only at run time. Unchecked hashes: the
# sources never change inside the image, so Python need not stat them against the .pyc.
RUN /opt/exhibit/venv/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
      /opt/exhibit/app /opt/exhibit/venv/lib

FROM ${BASE_IMAGE}
# A fixed uid and gid, so volume ownership can be set up before the first start.
RUN groupadd --system --gid 10001 exhibit \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin exhibit \
 && mkdir /data \
 && chown 10001:10001 /data
COPY --from=build /opt/exhibit /opt/exhibit
ENV PATH=/opt/exhibit/venv/bin:$PATH \
    PYTHONPATH=/opt/exhibit/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EXHIBIT_HOST=0.0.0.0 \
    PORT=8080 \
    EXHIBIT_DATABASE_URL=sqlite+aiosqlite:////data/exhibit.db
# The only place Exhibit writes, besides /tmp: run with --read-only --tmpfs /tmp -v DATA:/data.
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
# The worker and migrate roles serve no HTTP: run them with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-m", "exhibit.healthcheck"]
ENTRYPOINT ["python3", "-m", "exhibit"]
CMD ["serve"]
