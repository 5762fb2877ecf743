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

COPY setup.cfg pyproject.toml README.md Makefile ./
COPY app/ app/
COPY layers/ layers/
COPY styles/ styles/
COPY mapserver/ mapserver/
COPY supervision/ supervision/
COPY emergency/ emergency/
COPY data/ data/
RUN PYTHON=/usr/local/bin/python3.12 make venv

EXPOSE 8000
# `make run` builds the demo city on first start (into the container's var/) and serves it.
CMD ["make", "run"]
