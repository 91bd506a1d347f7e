#!/usr/bin/env bash
# The dashboard test drives a real headless Chromium through playwright-core, which never
# downloads a browser here: it uses Debian's `chromium`. Install it when missing (as root,
# from apt), otherwise say exactly what to do.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "chromium not found: installing Debian's chromium for the dashboard browser test" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
    || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
  exit 0
fi
echo "chromium not found: install it (e.g. 'sudo apt-get install -y chromium') for the dashboard browser test" >&2
exit 1
