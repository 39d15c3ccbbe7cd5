# One image for every process of the product; the command picks the role:
#   python worker.py                          the Temporal worker (default)
#   python -m bridge                          the webhook bridge (BRIDGE_HOST=0.0.0.0 in a container)
#   python -m simulator                       the Retell simulator, for trials
#   outbound-calls register-search-attributes one-shot setup of a namespace
# Settings come from the environment (see .env.example); nothing secret is baked in.
#
# The base is pinned to an exact Python and Debian release. To pin the digest as well, build
# with --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:<digest of that tag>
# (`docker buildx imagetools inspect python:3.11.13-slim-bookworm` prints it).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
FROM ${PYTHON_IMAGE}

# DO_NOT_CALL_DB: the default do-not-call list lives on a volume (/data), which the workers
# of one host share; /app itself is read-only for the app user.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DO_NOT_CALL_DB=/data/do_not_call.sqlite3

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app \
    && python -m venv "$VIRTUAL_ENV" \
    && mkdir /data && chown app:app /data

WORKDIR /app

# Dependencies first, from the runtime lock alone: this layer is rebuilt only when the lock
# changes, not on every code edit. Exact versions, every file checked against its hash, and
# nothing resolved at build time: the image ships what `make lock` wrote and CI tested.
# The lock holds setuptools too, the build backend of the next step.
COPY requirements/lock.txt requirements/
RUN pip install --require-hashes -r requirements/lock.txt

# Then the code: installed (for the outbound-calls console script) and kept in /app, where
# `python worker.py` and `python -m bridge` run from. Owned by root, read-only for the app,
# so its bytecode is written here: the workflow sandbox loads workflows/ afresh for every run,
# and without a cache each run would compile it again (adapters/bytecode.py).
# --no-build-isolation: built by the locked setuptools, not one fetched for the build.
COPY . .
RUN pip install --no-deps --no-build-isolation --check-build-dependencies . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q /app

USER app
EXPOSE 8000 8100 9464
CMD ["python", "worker.py"]
