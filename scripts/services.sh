#!/usr/bin/env bash
# Installs the brokers the integration tests run (each test starts its own process on a
# free loopback port): Mosquitto (MQTT) and nats-server (NATS JetStream), and Chromium for
# the web UI's browser tests (driven by Playwright's Python package with
# executable_path=/usr/bin/chromium; never `playwright install`). Debian/Ubuntu.
set -euo pipefail
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
