# Builds the single `frontdesk` binary; api and worker are the same image
# with different commands.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
ENV SQLX_OFFLINE=true
# No benchmarks (and their baselines and fakes) in the production binary.
RUN cargo build --release --locked --no-default-features --bin frontdesk

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/frontdesk frontdesk \
    && mkdir -p /var/lib/frontdesk && chown frontdesk /var/lib/frontdesk
COPY --from=build /src/target/release/frontdesk /usr/local/bin/frontdesk
USER frontdesk
WORKDIR /var/lib/frontdesk
ENV FRONTDESK_DATA_DIR=/var/lib/frontdesk FRONTDESK_LOG_FORMAT=json
ENTRYPOINT ["frontdesk"]
CMD ["serve"]
