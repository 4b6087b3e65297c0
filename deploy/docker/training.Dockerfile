# syntax=docker/dockerfile:1
# Training image: Dagster (webserver, daemon, user code, run pods) and the H2O-3 JVM (the h2o
# StatefulSet runs `h2o-entrypoint.sh` from this image). Java comes from the pinned Temurin JRE, Python
# from the pinned Python image; every version comes from versions.env:
#   docker build $(deploy/docker/build-args.sh training) .
# The ARGs have no defaults on purpose: a build without versions.env's values fails.

ARG TRAINING_JAVA_IMAGE
ARG SERVING_PYTHON_IMAGE
FROM ${TRAINING_JAVA_IMAGE} AS jre

FROM ${SERVING_PYTHON_IMAGE}

ARG H2O_VERSION
ARG JAVA_VERSION
ARG CONVERGE_GIT_COMMIT
RUN test -n "${H2O_VERSION}" && test -n "${JAVA_VERSION}" && test -n "${CONVERGE_GIT_COMMIT}" \
    || { echo "pass the build args of deploy/docker/build-args.sh training" >&2; exit 1; }

ENV JAVA_HOME=/opt/java/openjdk
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/converge/bin:${JAVA_HOME}/bin:$PATH \
    CONVERGE_VERSIONS_FILE=/app/versions.env \
    CONVERGE_GIT_COMMIT=${CONVERGE_GIT_COMMIT} \
    CONVERGE_HOME=/var/lib/converge \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    NUMBA_CACHE_DIR=/tmp/numba

# Both base images are glibc-based (Debian bookworm >= Ubuntu jammy), so the JRE runs as is.
COPY --from=jre /opt/java/openjdk /opt/java/openjdk
RUN java -version 2>&1 | grep -q "version \"${JAVA_VERSION}[.\"]" \
    || { echo "the JRE is not Java ${JAVA_VERSION}" >&2; java -version >&2; exit 1; }

# Hash-checked, fully pinned dependencies (base + training extra), nothing resolved at build time.
COPY deploy/docker/requirements-training.lock /tmp/requirements.lock
RUN python -m venv /opt/converge \
    && /opt/converge/bin/pip install --no-cache-dir --require-hashes --no-deps \
        -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

WORKDIR /app
COPY versions.env pyproject.toml requirements.lock workspace.yaml ./
COPY converge ./converge
COPY shared ./shared
COPY assets ./assets
COPY resources ./resources
COPY deploy/docker/h2o-entrypoint.sh /usr/local/bin/h2o-entrypoint.sh
# The console script pip would generate, without building a wheel (that needs unpinned setuptools).
RUN printf '#!/opt/converge/bin/python\nfrom converge.cli import main\nmain()\n' \
        > /opt/converge/bin/converge \
    && chmod 0755 /opt/converge/bin/converge /usr/local/bin/h2o-entrypoint.sh \
    && converge versions check --project-dir /app \
    && python -c "import h2o, sys; sys.exit(h2o.__version__ != '${H2O_VERSION}')" \
    && mkdir -p "${DAGSTER_HOME}"

RUN useradd --system --uid 10001 --home-dir /var/lib/converge --create-home converge \
    && chown converge "${DAGSTER_HOME}"
USER 10001
EXPOSE 3000 3030 54321 54322
CMD ["dagster", "api", "grpc", "--module-name", "assets.definitions", "--attribute", "defs", \
     "--host", "0.0.0.0", "--port", "3030"]
