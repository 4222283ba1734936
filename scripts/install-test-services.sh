#!/usr/bin/env bash
# Installs the services the tests start (Debian/Ubuntu): nats-server for the
# JetStream tests, prometheus (with promtool) for the dashboard and alert tests,
# openssl for the TLS tests (testkit/src/certs.ts issues their certificates),
# chromium for the web console's browser tests (playwright-core drives it and
# downloads no browser of its own). Uses sudo when not run as root. Does
# nothing when all are already there.
set -euo pipefail
need=()
command -v nats-server >/dev/null || need+=(nats-server)
command -v prometheus >/dev/null || need+=(prometheus)
command -v openssl >/dev/null || need+=(openssl)
command -v chromium >/dev/null || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
