# One image for every sportcast service; compose.yaml picks the service with the command
# (`sportcast serve gateway`, `sportcast serve projector`, ...). See docs/deploy.md.
#
# Build:  docker build -t sportcast:0.1.0 .
# Never built on the machine that wrote it (no Docker engine there): tests/unit/test_deploy_config.py
# checks it statically.

# ---- build: install the project and its dependencies into a virtualenv ----------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/sportcast
ENV PATH=/opt/sportcast/bin:$PATH

WORKDIR /src
# Metadata first, then the packages listed in [tool.setuptools.packages.find] include.
COPY pyproject.toml README.md constraints.txt ./
COPY domain/ domain/
COPY forecasting/ forecasting/
COPY commands/ commands/
COPY projections/ projections/
COPY readmodels/ readmodels/
COPY gateway/ gateway/
COPY infra/ infra/
# A regular (not editable) install: the runtime stage needs no source tree.
RUN pip install -c constraints.txt --upgrade pip && pip install -c constraints.txt .

# ---- runtime ---------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PATH=/opt/sportcast/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SPORTCAST_GATEWAY_HOST=0.0.0.0 \
    SPORTCAST_GATEWAY_PORT=8000 \
    SPORTCAST_STATE_DIR=/var/lib/sportcast

# A fixed, unprivileged uid/gid so volume ownership is predictable across hosts.
RUN groupadd --system --gid 10001 sportcast \
    && useradd --system --uid 10001 --gid sportcast --home-dir /home/sportcast \
       --create-home --shell /usr/sbin/nologin sportcast \
    && install -d -o sportcast -g sportcast /var/lib/sportcast

COPY --from=build /opt/sportcast /opt/sportcast

USER sportcast:sportcast
WORKDIR /home/sportcast

EXPOSE 8000

# Probes the gateway's /health (200 only when NATS and PostgreSQL answer). The image has no
# curl, so the standard library does it. Worker services override this in compose.yaml.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SPORTCAST_GATEWAY_PORT', '8000') + '/health', timeout=4)"]

ENTRYPOINT ["sportcast"]
CMD ["serve", "gateway"]
