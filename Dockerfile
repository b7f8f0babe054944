# syntax=docker/dockerfile:1
# llmpulse container image: the wheel (with its native OTLP scanner) is built in a builder stage;
# the final stage installs it (with the `kubernetes` extra for pod metadata) on a slim Python base,
# with no compiler, no build tools, no pip cache, and runs as an unprivileged user with a numeric
# uid (so Kubernetes' runAsNonRoot can verify it).
#
#   docker build -t llmpulse:dev .
#   docker run --rm -p 4317:4317 -p 4318:4318 -p 9464:9464 llmpulse:dev \
#     serve --otlp-grpc-endpoint 0.0.0.0:4317 --otlp-http-endpoint 0.0.0.0:4318 --metrics-endpoint 0.0.0.0:9464

# 3.11: the same build ran 7–13 % slower per span on CPython 3.12.1 and 3.13.0 (benchmarks/README.md)
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# A C compiler for the native extensions the wheel carries (llmpulse.otlp._scan,
# llmpulse.normalise._fields, and the modules mypyc compiles; setup.py); only this stage compiles.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
RUN python -m pip install --upgrade pip build
COPY pyproject.toml setup.py ./
COPY processors ./processors
# README.md is the project's readme (pyproject `readme`); an empty one if it is not there yet.
COPY README.m[d] ./
RUN test -f README.md || touch README.md
RUN python -m build --wheel --outdir /dist .
# The extensions are optional in setup.py (a checkout without a compiler still installs); the
# image must not ship without them, nor without the mypyc-compiled per-span path.
RUN python -m zipfile -l /dist/llmpulse-*.whl | grep -q 'llmpulse/otlp/_scan\.cpython-.*\.so' \
 && python -m zipfile -l /dist/llmpulse-*.whl | grep -q 'llmpulse/normalise/_fields\.cpython-.*\.so' \
 && python -m zipfile -l /dist/llmpulse-*.whl | grep -q 'llmpulse/pipeline\.cpython-.*\.so' \
 && python -m zipfile -l /dist/llmpulse-*.whl | grep -q '__mypyc\.cpython-.*\.so'
# Every dependency as a wheel too, so the final stage installs offline and needs no compiler.
RUN python -m pip wheel --wheel-dir /dist "$(ls /dist/llmpulse-*.whl)[kubernetes]"

FROM python:${PYTHON_VERSION}-slim-bookworm
ARG UID=10001
LABEL org.opencontainers.image.title="llmpulse" \
      org.opencontainers.image.description="OpenTelemetry gateway that turns LLM calls into GenAI metrics" \
      org.opencontainers.image.source="https://github.com/llmpulse/llmpulse" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN --mount=type=bind,from=builder,source=/dist,target=/dist \
    python -m pip install --no-index --find-links=/dist "llmpulse[kubernetes]" \
    && groupadd --system --gid ${UID} llmpulse \
    && useradd --system --uid ${UID} --gid ${UID} --home-dir /var/lib/llmpulse --shell /usr/sbin/nologin llmpulse \
    && mkdir -p /var/lib/llmpulse /etc/llmpulse \
    && chown ${UID}:${UID} /var/lib/llmpulse
WORKDIR /var/lib/llmpulse
# The chart mounts its ConfigMap at /etc/llmpulse/config.yaml (the CMD below); with plain
# `docker run`, mount a config there or give `serve` flags instead (see the top of this file).
ENV LLMPULSE_DATA_DIR=/var/lib/llmpulse
VOLUME ["/var/lib/llmpulse"]
USER ${UID}:${UID}
EXPOSE 4317 4318 9464
# Liveness as Kubernetes probes it (the chart uses httpGet probes; this serves `docker run`).
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["llmpulse"]
CMD ["serve", "--config", "/etc/llmpulse/config.yaml"]
