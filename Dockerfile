# Builds both binaries: workspace-gateway and workspace-emulator.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/gateway --create-home gateway
COPY --from=build /src/target/release/workspace-gateway /usr/local/bin/
COPY --from=build /src/target/release/workspace-emulator /usr/local/bin/
USER gateway
WORKDIR /var/lib/gateway
EXPOSE 8080
ENTRYPOINT ["workspace-gateway"]
CMD ["serve"]
