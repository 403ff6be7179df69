# Open Event Server in C: a two-stage image.
# Build:  docker build -t open-event-server .
# Run:    docker run -p 8080:8080 -e DATABASE_URL=postgresql://... -e SECRET_KEY=... open-event-server
#         (apply the schema first: ... open-event-server migrate)

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libevent-dev libpq-dev libjson-c-dev libcurl4-openssl-dev libhiredis-dev \
      libjwt-dev libsodium-dev libmagic-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" open-event-server

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libevent-2.1-7 libevent-pthreads-2.1-7 libpq5 libjson-c5 libcurl4 \
      libhiredis0.14 libjwt0 libsodium23 libmagic1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --create-home \
      --home-dir /var/lib/open-event-server --shell /usr/sbin/nologin oes
COPY --from=build /src/open-event-server /usr/local/bin/open-event-server
USER oes
# Local uploads (UPLOAD_DIR, default ./var/uploads) land under the home.
WORKDIR /var/lib/open-event-server
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["open-event-server", "healthcheck"]
ENTRYPOINT ["open-event-server"]
CMD ["serve"]
