# OneMap image: Debian bookworm, the same install scripts as `make run`, serving the demo city on port 8000.
#   docker build -t onemap .
#   docker run --rm -p 8000:8000 onemap                       # private PostGIS inside the container
#   docker run --rm -p 8000:8000 -e DATABASE_URL=postgresql://user:pw@db:5432/onemap onemap
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 HOST=0.0.0.0 PORT=8000
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv python3-dev make ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# bookworm's python3 is 3.11; OneMap needs 3.12, taken from the official CPython build in the python image.
COPY --from=python:3.12-slim-bookworm /usr/local /usr/local

WORKDIR /opt/onemap
COPY scripts/ scripts/
RUN scripts/install-system.sh && rm -rf /var/lib/apt/lists/*

# Build the wheel in a throw-away stage of the same image and install only the wheel: the image holds no source tree.
COPY . /tmp/src
RUN /usr/local/bin/python3.12 -m venv /opt/onemap/venv \
 && /opt/onemap/venv/bin/pip install -q --disable-pip-version-check setuptools wheel \
 && /opt/onemap/venv/bin/pip wheel -q --no-deps --no-build-isolation -w /tmp/dist /tmp/src \
 && /opt/onemap/venv/bin/pip install -q --disable-pip-version-check /tmp/dist/onemap-*.whl \
 && rm -rf /tmp/src /tmp/dist

# var/ (private cluster, generated configs, tile caches) lives under ONEMAP_HOME; mount a volume there to keep it.
ENV ONEMAP_HOME=/var/lib/onemap PATH=/opt/onemap/venv/bin:$PATH
RUN mkdir -p /var/lib/onemap
VOLUME /var/lib/onemap
EXPOSE 8000
# The demo city is built on first start (into ONEMAP_HOME/var) and served.
CMD ["sh", "-c", "onemap config check && onemap demo build --if-missing && onemap serve --port ${PORT}"]
