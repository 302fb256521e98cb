FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/pepper
RUN useradd --system --uid 10001 --no-create-home pepper

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY alembic.ini entrypoint.sh ./
COPY alembic ./alembic
COPY app ./app

USER pepper
EXPOSE 8000
ENTRYPOINT ["./entrypoint.sh"]
