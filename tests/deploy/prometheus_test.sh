#!/bin/bash
# deploy/prometheus/ as Prometheus reads it (promtool from Debian's
# `prometheus` package): the alert rules load (`check rules`), each alert
# fires on its trouble and not on a healthy twin (`test rules`), and the
# scrape config example is valid with its token files in place (`check config`).
# Usage: prometheus_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: prometheus_test.sh SOURCE_DIR}
dir=$(mktemp -d /tmp/sonde-prometheus.XXXXXX)
trap 'rm -rf "$dir"' EXIT
command -v promtool >/dev/null || { echo "promtool not found (apt-get install prometheus)"; exit 1; }

cp "$src"/deploy/prometheus/*.yml "$dir"/
promtool check rules "$dir/sonde-alerts.yml"
(cd "$dir" && promtool test rules sonde-alerts.test.yml)

# The example names /etc/prometheus/*.token; point it at files that exist.
for f in sonde-collector.token sonde-prober.token; do
  printf 'a-read-token-of-16-chars-or-more' >"$dir/$f"
done
sed -i "s|/etc/prometheus/|$dir/|g" "$dir/prometheus.yml"
promtool check config "$dir/prometheus.yml"
echo "prometheus_test: OK"
