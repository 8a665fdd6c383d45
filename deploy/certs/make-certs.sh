#!/usr/bin/env bash
# Makes a CA, a collector certificate and one client certificate per prober
# for Sonde's mTLS, with openssl.
#
#   deploy/certs/make-certs.sh OUTDIR COLLECTOR_NAME PROBER_ID:REGION [...]
#
# OUTDIR gets ca.pem/ca.key, collector.pem/collector.key (SAN: COLLECTOR_NAME,
# localhost, 127.0.0.1) and <prober-id>.pem/.key with CN = prober id and
# OU = region: the collector takes the prober's identity from them, and a
# prober may only send results for its certificate's region. An existing CA
# in OUTDIR is reused, so new probers can be added later.
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
out=$1 collector=$2
shift 2
mkdir -p "$out"
cd "$out"
umask 077
days=825
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -keyout ca.key -out ca.pem -subj "/CN=Sonde CA" 2>/dev/null
  echo "made ca.pem"
fi
sign() {  # name subject extfile
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days $days \
    -out "$1.pem" -extfile "$3" 2>/dev/null
  rm -f "$1.csr" "$3"
  echo "made $1.pem ($2)"
}
ext=$(mktemp)
printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$collector" >"$ext"
sign collector "/CN=$collector" "$ext"
for spec in "$@"; do
  id=${spec%%:*} region=${spec#*:}
  if [ -z "$id" ] || [ -z "$region" ] || [ "$id" = "$spec" ]; then
    echo "make-certs: \"$spec\" is not PROBER_ID:REGION" >&2
    exit 2
  fi
  ext=$(mktemp)
  printf 'extendedKeyUsage=clientAuth\n' >"$ext"
  sign "$id" "/CN=$id/OU=$region" "$ext"
done
