FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Debian's libpq: psycopg talks to PostgreSQL through it where psycopg-binary has no wheel
# (32-bit ARM; see requirements.txt).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/pepper
# /var/lib/pepper holds the API role's generated password (scripts/db_setup.py), on a volume.
RUN useradd --system --uid 10001 --no-create-home pepper \
    && install -d -o pepper -g pepper -m 0700 /var/lib/pepper

COPY requirements.txt ./
# requirements.txt chooses packages by machine name. A 32-bit system on a 64-bit ARM kernel (32-bit
# Raspberry Pi OS on a Pi 4 or 5) still calls itself aarch64; under linux32 it says armv8l.
RUN run=""; \
    if [ "$(uname -m)" = aarch64 ] && python -c 'import sys; sys.exit(sys.maxsize > 2**32)'; then \
        run="setarch linux32"; \
    fi; \
    $run pip install -r requirements.txt

COPY alembic.ini entrypoint.sh ./
COPY alembic ./alembic
COPY app ./app
COPY scripts/__init__.py scripts/db_setup.py scripts/serve.py scripts/embedded_db.py ./scripts/

USER pepper
EXPOSE 8000
ENTRYPOINT ["./entrypoint.sh"]
