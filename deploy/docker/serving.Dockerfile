# syntax=docker/dockerfile:1
# Serving image: the FastAPI app scoring the champion MOJO with converge's own runtime. No JVM and
# no h2o package: the build fails if either gets in. Every version comes from versions.env:
#   docker build $(deploy/docker/build-args.sh serving) .
# The ARGs have no defaults on purpose: a build without versions.env's values fails.

ARG SERVING_PYTHON_IMAGE
FROM ${SERVING_PYTHON_IMAGE}

ARG H2O_VERSION
ARG CONVERGE_GIT_COMMIT
RUN test -n "${H2O_VERSION}" && test -n "${CONVERGE_GIT_COMMIT}" \
    || { echo "pass the build args of deploy/docker/build-args.sh serving" >&2; exit 1; }

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/converge/bin:$PATH \
    CONVERGE_VERSIONS_FILE=/app/versions.env \
    CONVERGE_GIT_COMMIT=${CONVERGE_GIT_COMMIT} \
    CONVERGE_HOME=/var/lib/converge \
    NUMBA_CACHE_DIR=/tmp/numba

# Hash-checked, fully pinned dependencies (base + serving extra), nothing resolved at build time.
COPY deploy/docker/requirements-serving.lock /tmp/requirements.lock
RUN python -m venv /opt/converge \
    && /opt/converge/bin/pip install --no-cache-dir --require-hashes --no-deps \
        -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

WORKDIR /app
COPY versions.env pyproject.toml requirements.lock ./
COPY converge ./converge
COPY shared ./shared
COPY serving ./serving
# The console script pip would generate, without building a wheel (that needs unpinned setuptools).
# Bytecode is compiled at build time: otherwise every pod start recompiles ~400 modules (seconds).
RUN printf '#!/opt/converge/bin/python\nfrom converge.cli import main\nmain()\n' \
        > /opt/converge/bin/converge \
    && chmod 0755 /opt/converge/bin/converge \
    && if command -v java; then echo "a JVM got into the serving image" >&2; exit 1; fi \
    && if python -c "import h2o" 2>/dev/null; then echo "h2o got into the serving image" >&2; exit 1; fi \
    && converge versions check --project-dir /app \
    && python -m compileall -q /opt/converge /app

# numba's kernels compiled for a generic x86-64 CPU, against the very sources, path, Python and numba
# the pods run (numba keys its cache by them): a pod copies them into its empty NUMBA_CACHE_DIR and
# starts without compiling (docs/serving.md, "Cold start"). Never in git: built here.
ENV CONVERGE_SERVING_KERNEL_CACHE=/opt/converge/numba-kernels
RUN converge mojo compile-cache --dir "${CONVERGE_SERVING_KERNEL_CACHE}"

RUN useradd --system --uid 10001 --home-dir /var/lib/converge --create-home converge
USER 10001
EXPOSE 8000
CMD ["converge", "serve", "--host", "0.0.0.0", "--port", "8000"]
