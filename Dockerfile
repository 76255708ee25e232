# gdt-search: API, workers and Ray nodes share this image.
FROM python:3.11-slim-bookworm

# FFmpeg: torchcodec decodes video and audio with the system's libraries.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so that code edits do not reinstall torch.
COPY pyproject.toml README.md ./
RUN mkdir core search api migrations && touch core/__init__.py search/__init__.py api/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall -y gdt-search
COPY core core
COPY search search
COPY api api
COPY migrations migrations
COPY alembic.ini ./
RUN pip install --no-cache-dir --no-deps .

ENV GDT_SEARCH_CACHE=/data/cache
VOLUME ["/data"]
EXPOSE 8000
CMD ["gdt-search", "serve", "--host", "0.0.0.0", "--port", "8000"]
