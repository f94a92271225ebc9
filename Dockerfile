# The serving image of `release`: `release serve` and `release fetch-model` (init container).
#
# Build:  docker build -t ghcr.io/OWNER/release-server:0.1.0 .
# Run:    docker run --read-only --tmpfs /tmp -v "$PWD/models:/models:ro" -p 8080:8080 IMAGE
#
# Every dependency comes from the hash-locked .github/requirements-ci.txt (nothing is
# resolved at build time); release is installed in its own stage. The final image runs as an
# unprivileged numeric user (Kubernetes' runAsNonRoot can check it) and writes only to
# /tmp and /models, so it runs with a read-only root filesystem.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY .github/requirements-ci.txt /src/requirements.txt
RUN python -m venv /opt/release \
    && /opt/release/bin/pip install --require-hashes --no-deps -r /src/requirements.txt
# release itself: a wheel built from these sources.
COPY pyproject.toml README.md /src/
COPY release /src/release
RUN /opt/release/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /src/dist /src \
    && /opt/release/bin/pip install --no-deps /src/dist/release-*.whl \
    && /opt/release/bin/pip check

FROM ${PYTHON_IMAGE} AS runtime
# git: `release fetch-model` clones the registry's tags; nothing else is installed.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 release \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin release \
    && mkdir -p /models \
    && chown 10001:10001 /models
COPY --from=build /opt/release /opt/release
ENV PATH=/opt/release/bin:$PATH \
    HOME=/tmp \
    TMPDIR=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DVC_NO_ANALYTICS=1 \
    OMP_NUM_THREADS=1
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["release"]
CMD ["serve", "--model", "/models", "--host", "0.0.0.0", "--port", "8080"]
