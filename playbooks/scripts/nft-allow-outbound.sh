#!/bin/sh
# Rendered by fleet per machine ({{ machine.name }}); the data comes in as environment
# variables ENDPOINT, PORT and COMMENT (run command parameters), never pasted into this text.
set -eu
command -v nft >/dev/null || { echo "nft not installed" >&2; exit 3; }
nft list table inet fleet >/dev/null 2>&1 || nft add table inet fleet
nft list chain inet fleet output >/dev/null 2>&1 \
  || nft add chain inet fleet output '{ type filter hook output priority 0 ; policy accept ; }'
for addr in $(getent ahostsv4 "$ENDPOINT" | awk '{print $1}' | sort -u); do
  nft add rule inet fleet output ip daddr "$addr" tcp dport "$PORT" accept comment "\"$COMMENT\""
done
echo "allowed $ENDPOINT:$PORT"
