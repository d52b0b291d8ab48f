# syntax=docker/dockerfile:1.7
#
# tickflow user-code image (CPU): the Dagster code location (definitions.py + assets/,
# sensors/, resources/) and the tickflow engine (platform/tickflow), served by
# `dagster code-server start` on port 4000. The same image runs the K8sRunLauncher's run
# pods (they replace the command's arguments with `dagster api execute_run ...`).
#
#   docker build -t registry.example.com/tickflow/user-code:0.1.0 .
#   GPU variant (CUDA runtime, xgboost with CUDA): Dockerfile.gpu
#
# Bases are pinned by exact tag. Pin them by digest as well in your registry mirror
# (`docker buildx imagetools inspect python:3.11.13-slim-bookworm`): digests could not
# be fetched where this file was written.
# Python packages come from requirements/runtime.lock (the runtime subset of
# requirements/dev.lock, same pins; regenerate with
# `uv pip compile pyproject.toml -p 3.11 -c requirements/dev.lock -o requirements/runtime.lock`).

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/venv
WORKDIR /app
RUN uv venv /opt/venv --python /usr/local/bin/python3.11
COPY requirements/runtime.lock requirements/runtime.lock
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip sync --python /opt/venv/bin/python requirements/runtime.lock \
 && uv pip install --python /opt/venv/bin/python "dumb-init==1.2.5.post1"
# The engine is installed in editable mode at the path it keeps in the final image, so
# there is exactly one copy of it (platform/tickflow) and the `tickflow` CLI exists.
COPY pyproject.toml README.md ./
COPY platform/ platform/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/venv/bin/python --no-deps -e . \
 && /opt/venv/bin/python -c "import tickflow, dagster_k8s, dagster_postgres"
COPY definitions.py workspace.yaml ./
COPY assets/ assets/
COPY sensors/ sensors/
COPY resources/ resources/
RUN /opt/venv/bin/python -m compileall -q definitions.py assets sensors resources platform

# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="tickflow-user-code" \
      org.opencontainers.image.description="tickflow Dagster code location (CPU)"
# Numeric, non-root; the files stay owned by root and read-only to it, so the container
# runs with readOnlyRootFilesystem: writable paths are /tmp and DAGSTER_HOME's storage,
# both emptyDir volumes in the Helm values.
RUN groupadd --system --gid 10001 tickflow \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
            --shell /usr/sbin/nologin tickflow \
 && mkdir -p /opt/dagster/dagster_home \
 && chown 10001:10001 /opt/dagster/dagster_home
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:${PATH} \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    DAGSTER_HOME=/opt/dagster/dagster_home
WORKDIR /app
USER 10001:10001
EXPOSE 4000
# dumb-init forwards SIGTERM to dagster (PID 1 would ignore it) and reaps children. The
# Helm chart sets only `args`, which replace CMD and keep this entrypoint.
ENTRYPOINT ["/opt/venv/bin/dumb-init", "--"]
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-f", "definitions.py"]
