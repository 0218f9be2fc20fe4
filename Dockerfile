# Build stage: compile the release binary (templates, migrations, static files and the catalog are built in).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# SQL is checked against the committed query data in .sqlx/, not a live database.
ENV SQLX_OFFLINE=true
RUN cargo build --release --locked

# Run stage: the binary alone on a small base, as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 radportal \
 && install -d -o radportal -g radportal -m 0700 /var/lib/radportal
COPY --from=build /src/target/release/radportal /usr/local/bin/radportal
USER radportal
# A generated first administrator's password is written here (radportal-admin-password, mode 0600).
WORKDIR /var/lib/radportal
ENV RADPORTAL_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["radportal"]
CMD ["serve"]
