#!/usr/bin/env bash
# Offline validation of the deployment files (ctest: deploy_manifests_validate).
# Nothing here needs a Docker engine or a Kubernetes cluster:
#   - deploy/docker-compose.yml: `docker-compose config -q` (alone and with
#     docker-compose.host.yml; and that it refuses to run without TURN_SECRET),
#     and that it uses the shared signal.env and HAProxy template with a
#     stop_grace_period that covers the drain, builds every image it runs
#     (nothing pulled), takes its host ports from the environment, trusts
#     X-Forwarded-For from its balancer only, shares one TURN_SECRET between
#     the nodes and coturn, and that the host-network file moves every service
#     to 127.0.0.1 on the same ports; with deploy/docker-compose.sentinel.yml
#     layered on it, that the sentinels, the replica and the nodes'
#     REDIS_SENTINELS agree;
#   - k8s/: `kubectl kustomize` fails, naming the file, until the secrets exist;
#     with them (k8s/secrets.sh) rendered, every document validated against the
#     Kubernetes schemas plus consistency rules (tests/deploy/validate-k8s.js),
#     once with hpa.yaml and once with hpa-cpu.yaml, and with the k8s/sentinel
#     component;
#   - every rule added for issue 17 (secrets, capacity, probes, Ingress, drain,
#     TRUSTED_PROXIES, TURN) shown failing on a broken input (k8s-mutations.js,
#     and the compose mutations below);
#   - deploy/local-cluster.sh sets TRUSTED_PROXIES, and the HAProxy template
#     replaces X-Forwarded-For with the client's address;
#   - k8s/signal.env byte-identical to deploy/signal.env;
#   - deploy/haproxy: the template rendered as the local cluster and compose
#     render it, checked with `haproxy -c`;
#   - deploy/Dockerfile and deploy/images/*/Dockerfile: by rule, including a
#     runtime package for every library that build/signal-node links (the
#     images are built and run for real by tests/container, label `container`);
#   - k8s/ runs the image the build and compose name (signal-node:local).
# Installs what it lacks: Debian packages through deploy/setup.sh, npm packages
# (pinned in package-lock.json) into tests/deploy/node_modules.
# Ends with "N passed, N failed"; exits 1 if anything failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0 skipped=0
pass() { echo "PASS  $1"; passed=$((passed + 1)); }
fail() { echo "FAIL  $1"; failed=$((failed + 1)); }
skip() { echo "SKIP  $1"; skipped=$((skipped + 1)); }
# check NAME CMD...: PASS if CMD exits 0; otherwise FAIL and show its output.
check() {
  local name=$1
  shift
  if "$@" > "$tmp/out" 2>&1; then
    pass "$name"
  else
    fail "$name"
    sed 's/^/      /' "$tmp/out"
  fi
}

# ------------------------------------------------------------------ tools ----

# deploy/setup.sh (it waits for a dpkg lock another test may hold).
install_pkgs() {
  bash deploy/setup.sh "$@" > "$tmp/setup.log" 2>&1 && return 0
  echo "bash deploy/setup.sh $* failed:" >&2
  cat "$tmp/setup.log" >&2
  return 1
}

want=()
command -v docker-compose > /dev/null || want+=(docker-compose)
command -v haproxy > /dev/null || want+=(haproxy)
command -v node > /dev/null && command -v npm > /dev/null || want+=(nodejs npm)
# Any kubectl with the built-in kustomize (it renders offline); Debian's is kubernetes-client.
kubectl kustomize --help > /dev/null 2>&1 || want+=(kubernetes-client)
[ ${#want[@]} -eq 0 ] || install_pkgs "${want[@]}" || true

npm_ready=false
lock_sum=$(sha256sum tests/deploy/package-lock.json | cut -d' ' -f1)
stamp=tests/deploy/node_modules/.package-lock.sha256
if [ "$(cat "$stamp" 2> /dev/null)" = "$lock_sum" ]; then
  npm_ready=true
elif (cd tests/deploy && npm ci --no-audit --no-fund --loglevel=error) > "$tmp/npm.log" 2>&1; then
  echo "$lock_sum" > "$stamp"
  npm_ready=true
else
  echo "npm ci in tests/deploy failed:"
  sed 's/^/      /' "$tmp/npm.log"
fi
export NODE_PATH="$root/tests/deploy/node_modules"

# ---------------------------------------------------------- docker-compose ----

# The secret nodes and coturn share: required, never a default. `config`
# reads deploy/.env too, which a developer may have: this runs without it.
compose_config() {
  local secret=$1
  shift
  : > "$tmp/empty.env"
  env -u TURN_SECRET ${secret:+TURN_SECRET=$secret} docker-compose --env-file "$tmp/empty.env" "$@" config -q
}
check "docker-compose config -q accepts deploy/docker-compose.yml" \
  compose_config validate-only -f deploy/docker-compose.yml
check "docker-compose config -q accepts it with deploy/docker-compose.host.yml" \
  compose_config validate-only -f deploy/docker-compose.yml -f deploy/docker-compose.host.yml
no_turn_secret() {
  ! compose_config "" -f deploy/docker-compose.yml && grep -q "set TURN_SECRET" "$tmp/out"
}
check "docker-compose refuses to run without TURN_SECRET, saying so (no default secret)" no_turn_secret

# What no compose schema knows: the nodes use the shared signal.env, HAProxy
# renders the shared template with every node, and stop_grace_period covers
# the drain. Writes the render.sh arguments for the HAProxy check below.
# MUTATE=NAME (environment): break the parsed files as the mutations at the
# top of the script say, and succeed only if the rule they aim at reports it.
compose_rules() {
  node - deploy/docker-compose.yml deploy/signal.env "$tmp/compose-render-args" deploy/docker-compose.host.yml "$tmp/compose-image" "$park_s" << 'JS'
const fs = require("fs");
const YAML = require("yaml");
const [file, envFile, argsOut, hostFile, imageOut, parkS] = process.argv.slice(2);
const compose = YAML.parse(fs.readFileSync(file, "utf8"), { merge: true });
const host = YAML.parse(fs.readFileSync(hostFile, "utf8"), { merge: true });
const mutations = {
  "trusted-proxies": { what: "node2 without TRUSTED_PROXIES", expect: /node2: TRUSTED_PROXIES/,
    apply: () => delete compose.services.node2.environment.TRUSTED_PROXIES },
  "trusted-gateway": { what: "the nodes trusting the whole subnet, gateway included", expect: /TRUSTED_PROXIES 10\.91\.17\.0\/24 is not the containers' ip_range/,
    apply: () => { for (const n of ["node1", "node2", "node3"]) compose.services[n].environment.TRUSTED_PROXIES = "10.91.17.0/24"; } },
  "host-trusted": { what: "the host-network nodes trusting the compose subnet", expect: /host file: node1 TRUSTED_PROXIES/,
    apply: () => { host.services.node1.environment.TRUSTED_PROXIES = "10.91.17.128/25"; } },
  "grace": { what: "stop_grace_period without the parking step", expect: /stop_grace_period 20s </,
    apply: () => { for (const n of ["node1", "node2", "node3"]) compose.services[n].stop_grace_period = "20s"; } },
  "turn-secret": { what: "coturn with a secret of its own", expect: /coturn: TURN_SECRET .* is not the nodes'/,
    apply: () => { compose.services.coturn.environment.TURN_SECRET = "CHANGE-ME"; } },
  "turn-default": { what: "a default TURN_SECRET", expect: /TURN_SECRET .* has a default/,
    apply: () => { for (const n of ["node1", "node2", "node3"]) compose.services[n].environment.TURN_SECRET = "${TURN_SECRET:-dev}"; compose.services.coturn.environment.TURN_SECRET = "${TURN_SECRET:-dev}"; } },
};
const mutation = process.env.MUTATE ? mutations[process.env.MUTATE] : null;
if (process.env.MUTATE && !mutation) { console.log(`no compose mutation ${process.env.MUTATE}`); process.exit(2); }
if (mutation) mutation.apply();
const env = Object.fromEntries(fs.readFileSync(envFile, "utf8").split("\n")
  .filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
const bad = [];
const seconds = (s) => { const m = String(s).match(/^(\d+)(s|m)?$/); return m ? Number(m[1]) * (m[2] === "m" ? 60 : 1) : NaN; };
const ip4 = (a) => a.split(".").reduce((n, x) => n * 256 + Number(x), 0);
const inCidr = (a, cidr) => { const [net, bits] = cidr.split("/"); const m = 2 ** (32 - Number(bits)); return Math.floor(ip4(a) / m) === Math.floor(ip4(net) / m); };
const services = compose.services || {};
const nodes = Object.entries(services).filter(([, s]) => s.build && /deploy\/Dockerfile$/.test(s.build.dockerfile || ""));
if (nodes.length !== 3) bad.push(`expected 3 signal-node services, found ${nodes.length}`);
const ids = new Set();
for (const [name, s] of nodes) {
  const files = [].concat(s.env_file || []);
  if (!files.includes("signal.env")) bad.push(`${name}: env_file does not include signal.env`);
  const e = s.environment || {};
  if (!e.NODE_ID || ids.has(e.NODE_ID)) bad.push(`${name}: NODE_ID missing or not unique`);
  ids.add(e.NODE_ID);
  if (!/^redis:\/\//.test(e.REDIS_URL || "")) bad.push(`${name}: REDIS_URL is not a redis:// URL`);
  for (const k of Object.keys(e)) if (k in env) bad.push(`${name}: ${k} repeats signal.env`);
  // The drain: delay, parking the seats (node/node.cpp park_timeout), close handshakes, leaving Redis.
  const need = (Number(env.DRAIN_DELAY_MS || 3000) + Number(env.SHUTDOWN_TIMEOUT_MS || 10000) +
    Number(env.REDIS_TIMEOUT_MS || 2000)) / 1000 + Number(parkS) + 3;
  const grace = seconds(s.stop_grace_period || "10s");
  if (!(Number(parkS) > 0)) bad.push("no park_timeout from node/node.cpp");
  if (!(grace >= need)) bad.push(`${name}: stop_grace_period ${s.stop_grace_period} < DRAIN_DELAY_MS + parking + SHUTDOWN_TIMEOUT_MS + REDIS_TIMEOUT_MS + 3 s = ${need} s`);
  // X-Forwarded-For from the balancer only: the containers' ip_range (not the gateway, the host's way in).
  const range = ((((compose.networks || {}).default || {}).ipam || {}).config || [])[0] || {};
  if (!range.ip_range || range.gateway && inCidr(range.gateway, range.ip_range))
    bad.push("networks.default: no ip_range that leaves the gateway out");
  if (e.TRUSTED_PROXIES !== range.ip_range)
    bad.push(`${name}: TRUSTED_PROXIES ${e.TRUSTED_PROXIES} is not the containers' ip_range ${range.ip_range}`);
  const he = ((host.services || {})[name] || {}).environment || {};
  if (he.TRUSTED_PROXIES !== "127.0.0.1/32") bad.push(`host file: ${name} TRUSTED_PROXIES ${he.TRUSTED_PROXIES} is not 127.0.0.1/32 (HAProxy on loopback)`);
  // One TURN secret, required: the nodes sign what coturn checks.
  const turn = ((services.coturn || {}).environment || {}).TURN_SECRET;
  if (e.TURN_SECRET !== turn) bad.push(`coturn: TURN_SECRET ${turn} is not the nodes' (${name}: ${e.TURN_SECRET})`);
  if (!/^\$\{TURN_SECRET:\?[^}]+\}$/.test(e.TURN_SECRET || "")) bad.push(`${name}: TURN_SECRET ${e.TURN_SECRET} has a default or is not \${TURN_SECRET:?...}`);
  if (s.stop_signal && s.stop_signal !== "SIGTERM") bad.push(`${name}: stop_signal is not SIGTERM`);
}
const lb = services.haproxy || {};
if (!(lb.volumes || []).some((v) => /^\.\/haproxy:[^:]+(:ro)?$/.test(v)))
  bad.push("haproxy: does not mount ./haproxy (the shared template)");
const cmd = [].concat(lb.command || []).join(" ");
const m = cmd.match(/render\.sh\s+(.*?)\s*>/);
if (!m) bad.push("haproxy: command does not run render.sh");
else {
  const args = m[1].split(/\s+/);
  for (const [name, s] of nodes) {
    const port = (s.environment || {}).WS_PORT || 4000;
    if (!args.includes(`${name}:${port}`)) bad.push(`haproxy: render.sh arguments lack ${name}:${port}`);
  }
  fs.writeFileSync(argsOut, args.join("\n") + "\n");
}
// Nothing pulled: every service builds the image it names (signal-node from deploy/Dockerfile,
// Redis and HAProxy from deploy/images/), each image one name for all its services.
for (const [name, s] of Object.entries(services)) {
  if (!s.build) bad.push(`${name}: image ${s.image} is pulled, not built here`);
  else if (!/^[a-z0-9-]+:local$/.test(s.image || "")) bad.push(`${name}: builds no image named NAME:local (${s.image})`);
}
for (const name of ["redis", "haproxy", "coturn"]) {
  const ctx = typeof (services[name] || {}).build === "string" ? services[name].build : ((services[name] || {}).build || {}).context;
  if (ctx !== `images/${name}`) bad.push(`${name}: not built from deploy/images/${name}`);
}
const nodeImages = new Set(nodes.map(([, s]) => s.image));
if (nodeImages.size !== 1) bad.push(`the nodes run ${nodeImages.size} different images`);
fs.writeFileSync(imageOut, [...nodeImages][0] + "\n");
// Host ports from the environment (NAME_PORT, with the documented default), so a test can pick free ones.
const hostPorts = {};
for (const [name, s] of Object.entries(services)) {
  for (const p of s.ports || []) {
    // One port (TCP, or /udp /tcp), or coturn's relay range, which keeps its numbers.
    const m = String(p).match(/^(?:127\.0\.0\.1:)?\$\{([A-Z0-9_]+_PORT):-(\d+)\}:\d+(\/(udp|tcp))?$/);
    const range = String(p).match(/^\$\{([A-Z_]+_MIN_PORT):-(\d+)\}-\$\{([A-Z_]+_MAX_PORT):-(\d+)\}:\$\{\1:-\2\}-\$\{\3:-\4\}\/udp$/);
    if (!m && !range) bad.push(`${name}: host port ${p} is not \${NAME_PORT:-default}`);
    else if (m) hostPorts[name] = `\${${m[1]}:-${m[2]}}`;
  }
}
// The host-network file: every service on the host network, each node on its base host port.
const hservices = host.services || {};
for (const name of Object.keys(services)) {
  if ((hservices[name] || {}).network_mode !== "host") bad.push(`host file: ${name} is not network_mode: host`);
}
for (const name of Object.keys(hservices)) if (!services[name]) bad.push(`host file: ${name} is no service of the base file`);
const hcmd = [].concat((hservices.haproxy || {}).command || []).join(" ");
if (!hcmd.includes(`render.sh 127.0.0.1:${hostPorts.haproxy}`)) bad.push(`host file: HAProxy does not bind 127.0.0.1:${hostPorts.haproxy}`);
for (const [name] of nodes) {
  const e = (hservices[name] || {}).environment || {};
  if (e.WS_PORT !== hostPorts[name]) bad.push(`host file: ${name} WS_PORT ${e.WS_PORT} is not its base host port ${hostPorts[name]}`);
  if (e.BIND_ADDRESS !== "127.0.0.1") bad.push(`host file: ${name} does not bind 127.0.0.1`);
  if (!hcmd.includes(`127.0.0.1:${hostPorts[name]}`)) bad.push(`host file: HAProxy does not list 127.0.0.1:${hostPorts[name]}`);
}
for (const b of bad) console.log(b);
if (mutation) {
  const caught = bad.some((b) => mutation.expect.test(b));
  console.log(`mutation ${process.env.MUTATE} (${mutation.what}): ${caught ? "caught" : `NOT caught (want ${mutation.expect})`}`);
  process.exit(caught ? 0 : 1);
}
process.exit(bad.length ? 1 : 0);
JS
}
park_s=$(sed -n 's/^constexpr auto park_timeout = std::chrono::seconds(\([0-9]*\));.*/\1/p' node/node.cpp)
if $npm_ready; then
  check "compose: nodes use signal.env, HAProxy renders deploy/haproxy, stop_grace_period covers the drain (parking too), every image built here, host ports from the environment, TRUSTED_PROXIES the balancer's, one required TURN_SECRET, host-network file consistent" compose_rules
  compose_mutant() {
    local MUTATE=$1
    export MUTATE
    compose_rules
  }
  for m in trusted-proxies trusted-gateway host-trusted grace turn-secret turn-default; do
    check "compose rule catches a broken input: $m" compose_mutant "$m"
  done
else
  fail "compose rules (npm packages missing)"
fi

# The production profile: deploy/docker-compose.sentinel.yml layered on the base.
sentinel_files=(-f deploy/docker-compose.yml -f deploy/docker-compose.sentinel.yml)
check "docker-compose config -q accepts the base file with deploy/docker-compose.sentinel.yml" \
  compose_config validate-only "${sentinel_files[@]}"
compose_sentinel_rules() {
  env TURN_SECRET=validate-only docker-compose --env-file "$tmp/empty.env" "${sentinel_files[@]}" config \
    > "$tmp/compose-sentinel.yml" || return 1
  node - "$tmp/compose-sentinel.yml" << 'JS'
const fs = require("fs");
const YAML = require("yaml");
const services = YAML.parse(fs.readFileSync(process.argv[2], "utf8")).services || {};
const bad = [];
const sentinels = Object.entries(services).filter(([, s]) => /redis-sentinel|--sentinel\b/.test([].concat(s.command || []).join(" ")));
// Nothing pulled here either: every Redis server and sentinel runs the Redis image the base file builds.
const redisImage = (services.redis || {}).image;
for (const [name, s] of Object.entries(services))
  if (/^(redis|sentinel)/.test(name) && s.image !== redisImage) bad.push(`${name}: runs ${s.image}, not the base file's ${redisImage}`);
if (sentinels.length < 3 || sentinels.length % 2 === 0) bad.push(`expected an odd number (>= 3) of sentinels, found ${sentinels.length}`);
for (const [name, s] of sentinels) {
  const cmd = [].concat(s.command || []).join(" ");
  const m = cmd.match(/sentinel monitor (\S+) (\S+) (\d+) (\d+)/);
  if (!m) { bad.push(`${name}: monitors no master group`); continue; }
  if (!services[m[2]]) bad.push(`${name}: monitors ${m[2]}, which is no service`);
  if (!(Number(m[4]) > sentinels.length / 2)) bad.push(`${name}: quorum ${m[4]} is not a majority of ${sentinels.length}`);
  if (!/resolve-hostnames yes/.test(cmd) || !/announce-hostnames yes/.test(cmd)) bad.push(`${name}: hostnames are neither resolved nor announced`);
  if (s.hostname !== name) bad.push(`${name}: hostname is not the service name (what it announces)`);
}
const replicas = Object.entries(services).filter(([, s]) => /--replicaof/.test([].concat(s.command || []).join(" ")));
if (replicas.length === 0) bad.push("no Redis replica (--replicaof)");
for (const [name, s] of replicas) {
  const cmd = [].concat(s.command || []).join(" ");
  const m = cmd.match(/--replicaof (\S+) (\d+)/);
  if (!m || !services[m[1]]) bad.push(`${name}: replicates no service`);
  if (!cmd.includes(`--replica-announce-ip ${name}`)) bad.push(`${name}: does not announce its service name`);
}
const nodes = Object.entries(services).filter(([, s]) => s.build && /deploy\/Dockerfile$/.test(s.build.dockerfile || ""));
if (nodes.length === 0) bad.push("no signal-node services");
for (const [name, s] of nodes) {
  const e = s.environment || {};
  if (e.REDIS_URL) bad.push(`${name}: REDIS_URL is still set (REDIS_SENTINELS replaces it)`);
  const listed = String(e.REDIS_SENTINELS || "").split(",").filter(Boolean);
  for (const [sname] of sentinels)
    if (!listed.includes(`${sname}:26379`)) bad.push(`${name}: REDIS_SENTINELS lacks ${sname}:26379`);
  for (const a of listed) if (!services[a.split(":")[0]]) bad.push(`${name}: REDIS_SENTINELS names ${a}, which is no service`);
  if (!e.REDIS_MASTER_NAME) bad.push(`${name}: no REDIS_MASTER_NAME`);
  for (const [sname] of sentinels)
    if (!(s.depends_on || {})[sname]) bad.push(`${name}: does not depend on ${sname}`);
}
for (const b of bad) console.log(b);
process.exit(bad.length ? 1 : 0);
JS
}
if $npm_ready; then
  check "compose with sentinel: odd sentinels with a majority quorum on a real service, replicas announce themselves, nodes on REDIS_SENTINELS, every Redis on the image built here" compose_sentinel_rules
else
  fail "compose sentinel rules (npm packages missing)"
fi

# -------------------------------------------------------------- kubernetes ----

# k8s/ as a clean clone has it: no secrets/ (git ignores it; a developer's own
# stays out of this).
mkdir -p "$tmp/k8s"
(cd k8s && tar --exclude=./secrets -cf - .) | tar -C "$tmp/k8s" -xf -
no_secrets() {
  ! kubectl kustomize "$tmp/k8s" > /dev/null && grep -q "secrets/redis-password" "$tmp/out"
}
check "kubectl kustomize k8s/ fails, naming secrets/redis-password, until the secrets exist (nothing placeholder)" no_secrets
# shellcheck disable=SC2016 # $1 is expanded by the inner sh
check "k8s/secrets.sh makes the four secret files, random, without a newline" sh -c '
  sh "$1/secrets.sh" && for f in redis-password jwt-secret turn-secret sentinel-password; do
    v=$(cat "$1/secrets/$f") && [ ${#v} -eq 64 ] && [ "$(tail -c 1 "$1/secrets/$f" | od -An -c | tr -d " ")" != "\n" ] || exit 1
  done && ! cmp -s "$1/secrets/redis-password" "$1/secrets/turn-secret"' sh "$tmp/k8s"
# shellcheck disable=SC2016
check "kubectl kustomize k8s/ renders with them (offline)" sh -c 'kubectl kustomize "$1" > "$2"' sh "$tmp/k8s" "$tmp/k8s.yaml"
# The same with the CPU autoscaler in place of the connections one.
# shellcheck disable=SC2016
check "kubectl kustomize k8s/ renders with hpa-cpu.yaml in place of hpa.yaml" sh -c '
  cp -r "$1" "$1-cpu" && sed -i "s/^  - hpa.yaml .*/  - hpa-cpu.yaml/" "$1-cpu/kustomization.yaml" &&
  grep -q "^  - hpa-cpu.yaml" "$1-cpu/kustomization.yaml" && kubectl kustomize "$1-cpu" > "$2"' sh "$tmp/k8s" "$tmp/k8s-cpu.yaml"
export PARK_TIMEOUT_S=$park_s
if [ ! -s "$tmp/k8s.yaml" ]; then
  fail "k8s documents against the Kubernetes schemas (nothing rendered)"
elif ! $npm_ready; then
  fail "k8s documents against the Kubernetes schemas (npm packages missing)"
else
  # The drain and capacity lines and the document list are worth seeing in every run.
  if node tests/deploy/validate-k8s.js "$tmp/k8s.yaml" k8s > "$tmp/k8s.out" 2>&1; then
    pass "k8s: every rendered document valid against the Kubernetes schemas, no unknown field, references, drain, secrets, capacity, probes, autoscaler, Ingress and TRUSTED_PROXIES consistent"
  else
    fail "k8s: rendered documents against the Kubernetes schemas and consistency rules"
  fi
  sed 's/^/      /' "$tmp/k8s.out"
  check "k8s with hpa-cpu.yaml: the same rules" node tests/deploy/validate-k8s.js "$tmp/k8s-cpu.yaml" k8s
  for m in $(node -e 'console.log(Object.keys(require("./tests/deploy/k8s-mutations.js")).join(" "))'); do
    check "k8s rule catches a broken input: $m" env MUTATE="$m" node tests/deploy/validate-k8s.js "$tmp/k8s.yaml" k8s
  done
fi

# The production profile, k8s/sentinel (a kustomize Component), switched on
# in an overlay of its own: kustomize refuses one inside the directory it builds on.
mkdir -p "$tmp/sentinel-overlay"
# On the copy that has its secrets (k8s/secrets.sh above).
rel=$(realpath --relative-to="$tmp/sentinel-overlay" "$tmp/k8s")
printf 'resources:\n  - %s\ncomponents:\n  - %s/sentinel\n' "$rel" "$rel" > "$tmp/sentinel-overlay/kustomization.yaml"
# shellcheck disable=SC2016 # $1 and $2 are expanded by the inner sh
check "kubectl kustomize renders k8s/ with the k8s/sentinel component (offline)" \
  sh -c 'kubectl kustomize "$1" > "$2"' sh "$tmp/sentinel-overlay" "$tmp/k8s-sentinel.yaml"
if [ ! -s "$tmp/k8s-sentinel.yaml" ]; then
  fail "k8s with sentinel: documents against the Kubernetes schemas (nothing rendered)"
elif ! $npm_ready; then
  fail "k8s with sentinel: documents against the Kubernetes schemas (npm packages missing)"
else
  if node tests/deploy/validate-k8s.js "$tmp/k8s-sentinel.yaml" k8s k8s/sentinel > "$tmp/k8s-sentinel.out" 2>&1 &&
    ! grep -Eq ' (Deployment|Service)/redis$' "$tmp/k8s-sentinel.out"; then
    pass "k8s with sentinel: every document valid, nodes on REDIS_SENTINELS of the rendered sentinel pods, dev Redis gone"
  else
    fail "k8s with sentinel: rendered documents against the Kubernetes schemas and consistency rules"
  fi
  sed 's/^/      /' "$tmp/k8s-sentinel.out"
fi

check "k8s/signal.env is byte-identical to deploy/signal.env" cmp deploy/signal.env k8s/signal.env

# The Deployment runs the image that deploy/podman.sh build and the compose file name.
k8s_image() {
  local want got
  want=$(cat "$tmp/compose-image" 2> /dev/null)
  [ -n "$want" ] || { echo "no image name from the compose rules"; return 1; }
  grep -q -- "-t $want " deploy/podman.sh || { echo "deploy/podman.sh does not build $want"; return 1; }
  got=$(awk '/^kind: Deployment/{d=1} /^---/{d=0} d && $1 == "image:" && $2 ~ /signal-node/ {print $2}' "$tmp/k8s.yaml")
  echo "compose and deploy/podman.sh: $want; k8s Deployment: ${got:-none}"
  [ "$got" = "$want" ] || return 1
  # coturn: the image compose builds from deploy/images/coturn (podman.sh builds signal-$img:local).
  want=$(awk '/^  coturn:/{c=1} c && $1 == "image:" {print $2; exit}' deploy/docker-compose.yml)
  got=$(awk '$1 == "image:" && $2 ~ /signal-coturn/ {print $2}' "$tmp/k8s.yaml")
  echo "compose coturn: $want; k8s coturn: ${got:-none}"
  grep -q 'for img in .*coturn' deploy/podman.sh && [ -n "$want" ] && [ "$got" = "$want" ]
}
check "k8s: the Deployments run the images deploy/podman.sh builds and compose runs (signal-node, coturn)" k8s_image

# ----------------------------------------------------------------- haproxy ----

# Real client addresses behind the balancer: HAProxy replaces X-Forwarded-For
# with the client's address (del-header in the frontend, then forwardfor), and
# the local cluster trusts it (compose and k8s: their rules above).
forwarded_for() {
  local ok=0
  grep -Eq '^[[:space:]]+option forwardfor' deploy/haproxy/haproxy.cfg.in || { echo "haproxy.cfg.in: no option forwardfor"; ok=1; }
  awk '/^frontend/{f=1} /^backend/{f=0} f' deploy/haproxy/haproxy.cfg.in | grep -Eq '^[[:space:]]+http-request del-header X-Forwarded-For' ||
    { echo "haproxy.cfg.in: the frontend keeps what clients send as X-Forwarded-For"; ok=1; }
  grep -Eq 'TRUSTED_PROXIES=\$\{TRUSTED_PROXIES:-127\.0\.0\.1/32\}' deploy/local-cluster.sh ||
    { echo "deploy/local-cluster.sh: does not trust its HAProxy (TRUSTED_PROXIES 127.0.0.1/32)"; ok=1; }
  return $ok
}
check "HAProxy sends the client's address in X-Forwarded-For only, deploy/local-cluster.sh trusts it" forwarded_for

haproxy_local() {
  sh deploy/haproxy/render.sh 127.0.0.1:18080 127.0.0.1:14001 127.0.0.1:14002 127.0.0.1:14003 > "$tmp/local.cfg" &&
    grep -q '^  server node3 127.0.0.1:14003$' "$tmp/local.cfg" &&
    haproxy -c -f "$tmp/local.cfg"
}
check "haproxy -c on the template rendered for loopback nodes (local cluster)" haproxy_local

haproxy_compose() {
  [ -s "$tmp/compose-render-args" ] || { echo "no render.sh arguments from the compose file"; return 1; }
  # shellcheck disable=SC2046
  sh deploy/haproxy/render.sh $(cat "$tmp/compose-render-args") > "$tmp/compose.cfg" &&
    haproxy -c -dr -f "$tmp/compose.cfg" # -dr: node1.. resolve only inside compose's network
}
check "haproxy -c on the template rendered with the compose file's arguments" haproxy_compose

# -------------------------------------------------------------- Dockerfile ----

# Instructions of deploy/Dockerfile, continuation lines joined, comments dropped.
instructions() {
  sed -e '/^[[:space:]]*#/d' deploy/Dockerfile | sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}' | sed -e '/^[[:space:]]*$/d'
}
dockerfile_rules() {
  instructions > "$tmp/df"
  awk '/^FROM /{n++} n>=2' "$tmp/df" > "$tmp/df.final" # the runtime stage
  local ok=0
  rule() { grep -Eq "$2" "$3" || { echo "$1"; ok=1; }; }
  rule "build stage is not FROM debian:bookworm AS build" '^FROM debian:bookworm AS build$' "$tmp/df"
  rule "build stage does not install through deploy/setup.sh" '^RUN bash deploy/setup.sh' "$tmp/df"
  rule "build stage does not run cmake --preset release / --target signal-node" \
    'cmake --preset release .*cmake --build build --target signal-node' "$tmp/df"
  rule "runtime stage is not FROM debian:bookworm-slim" '^FROM debian:bookworm-slim$' "$tmp/df.final"
  rule "runtime stage runs as no numeric non-root USER" '^USER [1-9][0-9]*(:[1-9][0-9]*)?$' "$tmp/df.final"
  rule "no STOPSIGNAL SIGTERM" '^STOPSIGNAL SIGTERM$' "$tmp/df.final"
  rule "ENTRYPOINT is not signal-node" '^ENTRYPOINT \["/usr/local/bin/signal-node"\]$' "$tmp/df.final"
  rule "EXPOSE is not the nodes' port 4000" '^EXPOSE 4000$' "$tmp/df.final"
  rule "runtime stage does not copy the binary from the build stage" '^COPY --from=build ' "$tmp/df.final"
  if grep -q '^HEALTHCHECK' "$tmp/df"; then echo "HEALTHCHECK present: orchestrators probe"; ok=1; fi
  if grep -Eq '(^|[[:space:]])(g\+\+|cmake|[a-z0-9.+-]+-dev)([[:space:]]|$)' "$tmp/df.final"; then
    echo "runtime stage installs build packages"; ok=1
  fi
  for p in .git build; do
    grep -qx "$p" .dockerignore || { echo ".dockerignore does not exclude $p"; ok=1; }
  done
  # Cache-friendly: the package layer before the source, ccache in a cache mount.
  local deps src
  deps=$(grep -n '^RUN bash deploy/setup.sh' "$tmp/df" | head -1 | cut -d: -f1)
  src=$(grep -n '^COPY \. \.' "$tmp/df" | head -1 | cut -d: -f1)
  [ -n "$deps" ] && [ -n "$src" ] && [ "$deps" -lt "$src" ] || { echo "the packages are not installed before the source is copied"; ok=1; }
  rule "the compile step has no ccache cache mount" '^RUN --mount=type=cache,[^ ]*target=/ccache .*cmake --build' "$tmp/df"
  rule "CCACHE_DIR is not the cache mount" '^ENV CCACHE_DIR=/ccache$' "$tmp/df"
  return $ok
}
check "Dockerfile: multi-stage bookworm, non-root, STOPSIGNAL, ENTRYPOINT, no HEALTHCHECK, packages before source, ccache mount (by rule)" dockerfile_rules

# Redis and HAProxy: Debian's packages on the same base, unprivileged.
image_rules() {
  local d ok=0
  for d in redis haproxy coturn; do
    f=deploy/images/$d/Dockerfile
    [ -f "$f" ] || { echo "$f missing"; ok=1; continue; }
    grep -qx 'FROM debian:bookworm-slim' "$f" || { echo "$f: not FROM debian:bookworm-slim"; ok=1; }
    grep -Eq "apt-get install .*--no-install-recommends .*\b$d(-server)?\b" "$f" || { echo "$f: does not install Debian's $d"; ok=1; }
    grep -Eq '^USER [a-z0-9]+' "$f" && ! grep -Eq '^USER (root|0)' "$f" || { echo "$f: runs as root"; ok=1; }
  done
  return $ok
}
check "deploy/images: Redis, HAProxy and coturn from Debian packages on debian:bookworm-slim, not as root" image_rules

# Every shared library the binary links directly (NEEDED) comes from a package
# the runtime stage installs (or from bookworm-slim itself); apt brings what
# those packages depend on.
bin=${SIGNAL_NODE_BIN:-build/signal-node}
runtime_libs() {
  local installed pkgs needed lib pkg ok=0
  installed=$(instructions | awk '/^FROM /{n++} n>=2' | grep -o 'apt-get install .*' | tr ' ' '\n' |
    grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vx 'apt-get\|install\|rm')
  # shellcheck disable=SC2086 # one package a word
  pkgs=$(printf '%s\n' libc6 libgcc-s1 libstdc++6 $installed)
  ldd "$bin" > "$tmp/ldd" || return 1
  for needed in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    lib=$(awk -v n="$needed" '$1 == n && $2 == "=>" {print $3}' "$tmp/ldd")
    [ -n "$lib" ] || { echo "$needed: not found by ldd"; ok=1; continue; }
    pkg=$(dpkg -S "$(readlink -f "$lib")" 2> /dev/null || dpkg -S "$lib" 2> /dev/null)
    pkg=${pkg%%:*}
    if [ -z "$pkg" ]; then
      echo "$lib: no Debian package owns it"
      ok=1
    elif grep -qx "$pkg" <<< "$pkgs"; then
      echo "$lib <- $pkg"
    else
      echo "$lib <- $pkg: NOT installed by the Dockerfile's runtime stage"
      ok=1
    fi
  done
  return $ok
}
if [ -x "$bin" ]; then
  check "Dockerfile: runtime stage has a package for every library $bin links" runtime_libs
else
  skip "Dockerfile runtime libraries ($bin not built)"
fi

# ----------------------------------------------------------------- summary ----

summary="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
