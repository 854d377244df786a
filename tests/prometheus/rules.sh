#!/usr/bin/env bash
# The alert rules on their own (ctest prometheus_rules, label deploy), in a
# second: `promtool check rules` and `promtool test rules` on
# deploy/prometheus/, then each rule's expression swapped for one that never
# fires, one rule at a time: its unit test must then fail, so no rule goes
# without a test that can catch it. Installs Debian's prometheus (promtool) if
# missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$root/deploy/prometheus
command -v promtool > /dev/null || bash "$root/deploy/setup.sh" prometheus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

promtool check rules "$dir/alerts.yml"
promtool test rules "$dir/alerts_test.yml"

failed=0
alerts=$(sed -n 's/^ *- alert: *//p' "$dir/alerts.yml")
for alert in $alerts; do
  cp "$dir/alerts_test.yml" "$tmp/"
  # The `expr:` line right after this alert's name, replaced.
  awk -v a="$alert" '
    $0 ~ "- alert: " a "$" { hit = 1 }
    hit && /^ *expr:/ { sub(/expr:.*/, "expr: vector(1) < 0"); hit = 0 }
    { print }' "$dir/alerts.yml" > "$tmp/alerts.yml"
  if cmp -s "$dir/alerts.yml" "$tmp/alerts.yml"; then
    echo "FAIL  $alert: no one-line expr to swap"
    failed=1
  elif promtool test rules "$tmp/alerts_test.yml" > "$tmp/out" 2>&1; then
    echo "FAIL  $alert never firing: its unit test still passes"
    failed=1
  else
    echo "ok    $alert never firing: its unit test fails ($(grep -c "alertname: $alert" "$tmp/out") failing check(s))"
  fi
done
[ -n "$alerts" ] || { echo "no alerts found in $dir/alerts.yml"; exit 1; }
exit $failed
