#!/usr/bin/env node
// Offline validation of the rendered Kubernetes manifests (k8s/).
//
//   node validate-k8s.js RENDERED.yaml K8S_DIR [MORE_DIRS...]
//
// RENDERED.yaml is `kubectl kustomize K8S_DIR` (or "-" for stdin); MORE_DIRS
// are kustomize components rendered with it (k8s/sentinel). Three layers:
//  1. schema: every document against the Kubernetes JSON schemas of its
//     apiVersion/kind (npm kubernetes-models, @kubernetes-models/validate):
//     types, required fields, enums, formats;
//  2. fields: no unknown field anywhere (the API server rejects them under
//     strict field validation, the JSON schemas alone let them through), by
//     walking each object along the models' TypeScript declarations;
//  3. consistency: what no schema knows — selectors that select, ports and
//     references that resolve, the drain fitting the grace period, the
//     security settings, secrets only from the generated Secret, capacity
//     (MAX_CONNECTIONS from the memory limit), probes, the autoscaler's
//     target, what the Ingress exposes, TRUSTED_PROXIES — and every manifest
//     file listed in kustomization.yaml.
// Prints one line per problem and a summary; exits 1 if there is any problem.
// PARK_TIMEOUT_S (environment): the drain's parking step, node/node.cpp's
// park_timeout. MUTATE=NAME (environment): break the rendered documents as
// k8s-mutations.js NAME says, and exit 0 only if the rule it aims at reports
// it (how validate.sh shows each rule failing on a broken input).
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const MODELS_VERSION = require("kubernetes-models/package.json").version;
const NODE_MODULES = path.join(__dirname, "node_modules");

const problems = [];
let checks = 0;
function check(cond, what) {
  checks++;
  if (!cond) problems.push(what);
  return !!cond;
}

// A Kubernetes quantity in bytes (or a plain number): 1Gi, 256Mi, 512M, "33600".
function quantity(q) {
  const m = String(q === undefined ? "" : q).match(/^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/);
  if (!m) return NaN;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2]] || 1;
  return Number(m[1]) * unit;
}

// ---------------------------------------------------------------- inputs ----

const [renderedArg, k8sDir, ...componentDirs] = process.argv.slice(2);
if (!renderedArg || !k8sDir) {
  console.error("usage: validate-k8s.js RENDERED.yaml|- K8S_DIR");
  process.exit(2);
}
const renderedText = fs.readFileSync(renderedArg === "-" ? 0 : renderedArg, "utf8");

function parseDocs(text, where) {
  const docs = [];
  for (const d of YAML.parseAllDocuments(text)) {
    if (d.errors.length) {
      problems.push(`${where}: YAML: ${d.errors.map((e) => e.message).join("; ")}`);
      continue;
    }
    const v = d.toJS();
    if (v !== null && v !== undefined) docs.push(v);
  }
  return docs;
}

const docs = parseDocs(renderedText, renderedArg);
check(docs.length > 0, `${renderedArg}: no documents rendered`);
const mutation = process.env.MUTATE ? require("./k8s-mutations.js")[process.env.MUTATE] : null;
if (process.env.MUTATE && !mutation) {
  console.error(`no mutation ${process.env.MUTATE} in k8s-mutations.js`);
  process.exit(2);
}
if (mutation) mutation.apply(docs);
const id = (d) => `${d && d.kind}/${d && d.metadata && d.metadata.name}`;

// ------------------------------------------------------------ 1. schema ----

function modelClass(doc) {
  if (!doc || typeof doc.apiVersion !== "string" || typeof doc.kind !== "string") return null;
  let mod;
  try {
    mod = require(`kubernetes-models/${doc.apiVersion}`);
  } catch {
    return null;
  }
  return typeof mod[doc.kind] === "function" ? mod[doc.kind] : null;
}

for (const doc of docs) {
  const Cls = modelClass(doc);
  if (!check(Cls, `${id(doc)}: no Kubernetes schema for apiVersion "${doc.apiVersion}" kind "${doc.kind}"`))
    continue;
  // kustomize's secretGenerator wraps long base64 values over lines, which the
  // API server's decoder skips (Go's base64 ignores newlines); the schema's
  // "byte" format does not.
  const copy = JSON.parse(JSON.stringify(doc));
  if (copy.kind === "Secret")
    for (const k of Object.keys(copy.data || {})) copy.data[k] = String(copy.data[k]).replace(/\s+/g, "");
  try {
    new Cls(copy).validate();
    checks++;
  } catch (e) {
    check(false, `${id(doc)}: schema: ${e.message}`);
  }
}

// ------------------------------------------------------- 2. unknown fields ----
// The models' .d.ts files declare every object as
//   export interface IName { "field"?: TYPE; ... }
// with TYPE a primitive or literal union, Array<T>, { [key: string]: T }, or
// an imported interface name. Parse those once and walk the documents.

const dtsCache = new Map();

function splitTopLevel(body) {
  const parts = [];
  let depth = 0;
  let cur = "";
  for (const ch of body) {
    if ("{<([".includes(ch)) depth++;
    if ("}>)]".includes(ch)) depth--;
    if (ch === ";" && depth === 0) {
      parts.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

function parseDts(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  const info = { file, imports: new Map(), interfaces: new Map(), aliases: new Map() };
  dtsCache.set(file, info);
  if (!fs.existsSync(file)) return info;
  const src = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
  for (const m of src.matchAll(/import \{([^}]*)\} from "([^"]+)";/g)) {
    const spec = m[2];
    let target = null;
    if (spec.startsWith(".")) target = path.resolve(path.dirname(file), spec + ".d.ts");
    else if (spec.startsWith("@kubernetes-models/") || spec.startsWith("kubernetes-models/"))
      target = path.join(NODE_MODULES, spec + ".d.ts");
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      const [orig, local] = name.split(/\s+as\s+/);
      info.imports.set(local || orig, { file: target, name: orig });
    }
  }
  for (const m of src.matchAll(/export interface (\w+)(?: extends [^{]+)? \{/g)) {
    let i = m.index + m[0].length;
    let depth = 1;
    const start = i;
    while (depth > 0 && i < src.length) {
      if (src[i] === "{") depth++;
      else if (src[i] === "}") depth--;
      i++;
    }
    const props = new Map();
    for (const member of splitTopLevel(src.slice(start, i - 1))) {
      const pm = member.match(/^"([^"]+)"\??:\s*([\s\S]+)$/);
      if (pm) props.set(pm[1], pm[2].trim());
    }
    info.interfaces.set(m[1], props);
  }
  for (const m of src.matchAll(/export \{([^}]*)\};/g))
    for (const pair of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      const [orig, alias] = pair.split(/\s+as\s+/);
      if (alias) info.aliases.set(alias, orig);
    }
  return info;
}

// -> {object: props, file} | {array: T} | {map: T} | null (a leaf: not walked)
function resolveType(type, file) {
  type = type.trim();
  let m;
  if ((m = type.match(/^Array<([\s\S]+)>$/))) return { array: m[1] };
  if ((m = type.match(/^\{\s*\[key: string\]:\s*([\s\S]+?);?\s*\}$/))) return { map: m[1] };
  if (!/^I\w+$/.test(type)) return null;
  const info = parseDts(file);
  if (info.interfaces.has(type)) return { object: info.interfaces.get(type), file };
  const imp = info.imports.get(type);
  if (!imp || !imp.file) return null;
  const target = parseDts(imp.file);
  const local = target.aliases.get(imp.name) || imp.name;
  if (target.interfaces.has(local)) return { object: target.interfaces.get(local), file: imp.file };
  return null; // a type alias such as IntOrString or Quantity
}

function walk(value, desc, file, where, out) {
  if (!desc || value === null || value === undefined) return;
  if (desc.array) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, resolveType(desc.array, file), file, `${where}[${i}]`, out));
  } else if (desc.map) {
    if (typeof value === "object" && !Array.isArray(value))
      for (const [k, v] of Object.entries(value)) walk(v, resolveType(desc.map, file), file, `${where}.${k}`, out);
  } else if (desc.object) {
    if (typeof value !== "object" || Array.isArray(value)) return; // the schema reports types
    for (const [k, v] of Object.entries(value)) {
      const key = where ? `${where}.${k}` : k;
      if (!desc.object.has(k)) out.push(`${key}: unknown field`);
      else walk(v, resolveType(desc.object.get(k), desc.file), desc.file, key, out);
    }
  }
}

for (const doc of docs) {
  if (!modelClass(doc)) continue;
  const file = path.join(NODE_MODULES, "kubernetes-models", doc.apiVersion, `${doc.kind}.d.ts`);
  const root = parseDts(file).interfaces.get(`I${doc.kind}`);
  if (!check(root && root.size > 0, `${id(doc)}: no type declarations in ${file}`)) continue;
  const out = [];
  walk(doc, { object: root, file }, file, "", out);
  check(out.length === 0, `${id(doc)}: ${out.join("; ")}`);
}

// -------------------------------------------------------- 3. consistency ----

const byKind = (kind) => docs.filter((d) => d && d.kind === kind);
const find = (kind, name) => byKind(kind).find((d) => d.metadata && d.metadata.name === name);
const selects = (selector, labels) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels && labels[k] === v);
const podLabels = (dep) => (dep.spec.template.metadata || {}).labels || {};
const containersOf = (dep) => dep.spec.template.spec.containers || [];
const portOk = (c, p) => (c.ports || []).some((cp) => cp.name === p || cp.containerPort === p);

// Every manifest file is part of the kustomization (so it is rendered and checked above).
// Files that stand in for a listed one (validate.sh renders k8s/ with each swapped in too).
const alternatives = { "hpa-cpu.yaml": "hpa.yaml", "hpa.yaml": "hpa-cpu.yaml" };
for (const dir of [k8sDir, ...componentDirs]) {
  const kz = YAML.parse(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8"));
  const listed = new Set([...(kz.resources || []), ...(kz.patchesStrategicMerge || []),
    ...(kz.patches || []).map((p) => p.path).filter(Boolean)]);
  for (const f of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml"))
    check(listed.has(f) || listed.has(alternatives[f]), `${dir}/${f}: not listed in kustomization.yaml resources or patches, so never applied nor validated`);
  for (const f of listed)
    if (!f.startsWith("../")) check(fs.existsSync(path.join(dir, f)), `${dir}/kustomization.yaml: ${f} does not exist`);
}
const kustomization = YAML.parse(fs.readFileSync(path.join(k8sDir, "kustomization.yaml"), "utf8"));
// Secrets: none shipped (a manifest Secret would be a placeholder someone
// applies), only the generator's, from files under secrets/ that git ignores.
const generated = (kustomization.secretGenerator || []).map((g) => g.name);
for (const g of kustomization.secretGenerator || []) {
  check(!g.literals && !g.envs && !g.env && (g.files || []).length > 0,
    `kustomization.yaml: secretGenerator ${g.name} has literals or env files: secrets come from files under secrets/`);
  for (const f of g.files || [])
    check(/^[a-z0-9-]+=secrets\/[a-z0-9-]+$/.test(f), `kustomization.yaml: secretGenerator ${g.name} reads ${f}, not secrets/NAME`);
}
for (const sec of byKind("Secret"))
  check(generated.some((g) => new RegExp(`^${g}-[a-z0-9]{10}$`).test(sec.metadata.name)),
    `${id(sec)}: not made by kustomization.yaml's secretGenerator: a Secret in the manifests is a placeholder waiting to be applied`);

// Deployments and StatefulSets (the Sentinel profile's Redis) are held to the same rules.
const deployments = [...byKind("Deployment"), ...byKind("StatefulSet")];
for (const dep of deployments) {
  const name = id(dep);
  const spec = dep.spec.template.spec;
  check(selects(dep.spec.selector.matchLabels, podLabels(dep)), `${name}: selector does not match the pod labels`);
  const podSc = spec.securityContext || {};
  check(podSc.runAsNonRoot === true, `${name}: securityContext.runAsNonRoot is not true`);
  for (const c of containersOf(dep)) {
    const cn = `${name} container ${c.name}`;
    const sc = c.securityContext || {};
    check(sc.allowPrivilegeEscalation === false, `${cn}: allowPrivilegeEscalation is not false`);
    check(sc.readOnlyRootFilesystem === true, `${cn}: readOnlyRootFilesystem is not true`);
    check(((sc.capabilities || {}).drop || []).includes("ALL"), `${cn}: capabilities do not drop ALL`);
    const seccomp = (sc.seccompProfile || podSc.seccompProfile || {}).type;
    check(seccomp === "RuntimeDefault" || seccomp === "Localhost", `${cn}: no seccompProfile`);
    const res = c.resources || {};
    check(res.requests && res.requests.cpu && res.requests.memory, `${cn}: no cpu/memory requests`);
    check(res.limits && res.limits.memory, `${cn}: no memory limit`);
    check(c.readinessProbe && c.livenessProbe, `${cn}: readiness and liveness probes are required`);
    for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
      const p = c[probe] && (c[probe].httpGet || c[probe].tcpSocket);
      if (p) check(portOk(c, p.port), `${cn}: ${probe} port ${p.port} is not a container port`);
    }
    for (const ef of c.envFrom || []) {
      if (ef.configMapRef) check(find("ConfigMap", ef.configMapRef.name), `${cn}: ConfigMap ${ef.configMapRef.name} is not rendered`);
      if (ef.secretRef) check(find("Secret", ef.secretRef.name), `${cn}: Secret ${ef.secretRef.name} is not rendered`);
    }
    const seen = new Set();
    for (const e of c.env || []) {
      const ref = e.valueFrom && e.valueFrom.secretKeyRef;
      if (ref) {
        const s = find("Secret", ref.name);
        check(s && ({ ...s.data, ...s.stringData })[ref.key] !== undefined, `${cn}: env ${e.name}: Secret ${ref.name} has no key ${ref.key}`);
      }
      for (const m of String(e.value || "").matchAll(/(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) // $$( is an escape
        check(seen.has(m[1]), `${cn}: env ${e.name} uses $(${m[1]}), which is not defined before it`);
      seen.add(e.name);
    }
    for (const a of [...(c.args || []), ...(c.command || [])])
      for (const m of String(a).matchAll(/(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g))
        check(seen.has(m[1]), `${cn}: args use $(${m[1]}), which is not in env`);
  }
}

// The signal-node Deployment itself.
const signal = find("Deployment", "signal");
if (check(signal, "Deployment/signal is not rendered")) {
  const spec = signal.spec.template.spec;
  const c = containersOf(signal)[0];
  const ru = (signal.spec.strategy || {}).rollingUpdate || {};
  check(signal.spec.strategy.type === "RollingUpdate" && ru.maxUnavailable === 0 && ru.maxSurge >= 1,
    "Deployment/signal: rolling update must have maxUnavailable 0 and maxSurge >= 1");
  check(signal.spec.replicas >= 3, "Deployment/signal: fewer than 3 replicas");
  check(((c.readinessProbe || {}).httpGet || {}).path === "/readyz", "Deployment/signal: readinessProbe is not GET /readyz");
  check(((c.livenessProbe || {}).httpGet || {}).path === "/healthz", "Deployment/signal: livenessProbe is not GET /healthz");
  const env = Object.fromEntries((c.env || []).map((e) => [e.name, e]));
  check(env.NODE_ID && env.NODE_ID.valueFrom && env.NODE_ID.valueFrom.fieldRef &&
    env.NODE_ID.valueFrom.fieldRef.fieldPath === "metadata.name", "Deployment/signal: NODE_ID is not the pod name");
  // Redis: one or more redis:// URLs, or sentinels (never both); every name
  // they use must be a Service rendered here (a managed Redis would be named
  // by an outside host, which this check leaves alone: it has dots).
  const serviceHost = (host, port, what) => {
    if (host.includes(".") && !/^[a-z0-9-]+\.[a-z0-9-]+$/.test(host)) return; // outside: nothing to check
    const [pod, svcName] = host.includes(".") ? host.split(".") : [null, host];
    const svc = find("Service", svcName);
    if (!check(svc, `Deployment/signal: ${what} ${host}: no Service ${svcName} is rendered`)) return;
    check((svc.spec.ports || []).some((p) => String(p.port) === String(port)), `Deployment/signal: ${what} ${host}:${port}: Service ${svcName} has no port ${port}`);
    if (pod === null) return;
    // pod.service: a pod of a StatefulSet governed by that headless Service.
    check(svc.spec.clusterIP === "None", `Deployment/signal: ${what} ${host}: Service ${svcName} is not headless`);
    const sts = byKind("StatefulSet").find((st) => st.spec.serviceName === svcName && pod.startsWith(st.metadata.name + "-"));
    const ordinal = sts ? Number(pod.slice(sts.metadata.name.length + 1)) : NaN;
    check(sts && ordinal < sts.spec.replicas, `Deployment/signal: ${what} ${host}: no pod ${pod} in a StatefulSet of Service ${svcName}`);
  };
  const urls = env.REDIS_URL ? String(env.REDIS_URL.value || "").split(",") : [];
  const sentinels = env.REDIS_SENTINELS ? String(env.REDIS_SENTINELS.value || "").split(",") : [];
  check(urls.length > 0 !== sentinels.length > 0, "Deployment/signal: set exactly one of REDIS_URL and REDIS_SENTINELS");
  for (const u of urls) {
    const m = u.trim().match(/^redis:\/\/(?:[^@]*@)?([^:/]+)(?::(\d+))?/);
    if (check(m, `Deployment/signal: REDIS_URL ${u} is not a redis:// URL`)) serviceHost(m[1], m[2] || 6379, "REDIS_URL");
  }
  for (const a of sentinels) {
    const m = a.trim().match(/^([^:]+):(\d+)$/);
    if (check(m, `Deployment/signal: REDIS_SENTINELS entry ${a} is not host:port`)) serviceHost(m[1], m[2], "REDIS_SENTINELS");
  }
  if (sentinels.length)
    check(sentinels.length >= 3 && sentinels.length % 2 === 1,
      "Deployment/signal: REDIS_SENTINELS should list an odd number, at least 3 (a majority must outvote a stale one)");

  // Settings as the node sees them: the ConfigMap, then env (which wins).
  const settings = {};
  for (const ef of c.envFrom || [])
    if (ef.configMapRef) Object.assign(settings, (find("ConfigMap", ef.configMapRef.name) || {}).data);
  for (const e of c.env || []) if (e.value !== undefined) settings[e.name] = e.value;
  const ms = (k, dflt) => Number(settings[k] !== undefined ? settings[k] : dflt);
  const port = c.ports.find((p) => p.name === "http") || c.ports[0];
  check(port && String(port.containerPort) === String(settings.WS_PORT || 4000),
    "Deployment/signal: containerPort differs from WS_PORT");

  // Drain: preStop + DRAIN_DELAY_MS + parking the seats (cluster mode, at most
  // park_timeout) + SHUTDOWN_TIMEOUT_MS + REDIS_TIMEOUT_MS (leave) + margin <= grace.
  const pre = (((c.lifecycle || {}).preStop || {}).exec || {}).command || [];
  const preStop = /sleep$/.test(pre[0] || "") ? Number(pre[1]) : NaN;
  check(pre.length === 0 || !Number.isNaN(preStop), `Deployment/signal: preStop is not "sleep N": ${JSON.stringify(pre)}`);
  const park = Number(process.env.PARK_TIMEOUT_S);
  check(park > 0, "PARK_TIMEOUT_S (node/node.cpp's park_timeout) not given: the drain cannot be checked");
  const margin = 5;
  const drain = (Number.isNaN(preStop) ? 0 : preStop) + (park || 0) +
    (ms("DRAIN_DELAY_MS", 3000) + ms("SHUTDOWN_TIMEOUT_MS", 10000) + ms("REDIS_TIMEOUT_MS", 2000)) / 1000;
  const grace = spec.terminationGracePeriodSeconds === undefined ? 30 : spec.terminationGracePeriodSeconds;
  check(drain + margin <= grace,
    `Deployment/signal: terminationGracePeriodSeconds ${grace} < preStop ${preStop} + DRAIN_DELAY_MS ` +
    `${ms("DRAIN_DELAY_MS", 3000)} + parking ${park} s + SHUTDOWN_TIMEOUT_MS ${ms("SHUTDOWN_TIMEOUT_MS", 10000)} + ` +
    `REDIS_TIMEOUT_MS ${ms("REDIS_TIMEOUT_MS", 2000)} + ${margin} s margin = ${drain + margin} s`);
  console.log(`drain: preStop ${preStop} s + DRAIN_DELAY_MS, parking, SHUTDOWN_TIMEOUT_MS, REDIS_TIMEOUT_MS ` +
    `${drain - preStop} s = ${drain} s, + ${margin} s margin ${drain + margin <= grace ? "<=" : "> (TOO LONG)"} ` +
    `terminationGracePeriodSeconds ${grace}`);

  // Readiness tolerates one slow or failed answer, and still takes the pod out
  // of the Service within 10 s of a lasting failure (Redis lost).
  const rp = c.readinessProbe || {};
  const [period, timeout, failures] = [rp.periodSeconds || 10, rp.timeoutSeconds || 1, rp.failureThreshold || 3];
  check(failures >= 2, `Deployment/signal: readinessProbe failureThreshold ${failures}: one slow answer takes the pod out`);
  check(timeout <= period, `Deployment/signal: readinessProbe timeoutSeconds ${timeout} > periodSeconds ${period}`);
  check(period * failures <= 10,
    `Deployment/signal: readinessProbe periodSeconds x failureThreshold = ${period * failures} s > 10 s to take an unready pod out`);
  const lp = c.livenessProbe || {};
  check((lp.failureThreshold || 3) >= 3, "Deployment/signal: livenessProbe failureThreshold below 3: a slow moment restarts the node");

  // Secrets: every secret setting from a secretKeyRef, never a value.
  const envOf = (container) => Object.fromEntries((container.env || []).map((e) => [e.name, e]));
  const secretRef = (e) => e && e.valueFrom && e.valueFrom.secretKeyRef;
  for (const name of ["REDIS_PASSWORD", "AUTH_JWT_SECRET", "TURN_SECRET"])
    check(secretRef(env[name]) && env[name].value === undefined,
      `Deployment/signal: ${name} is not a secretKeyRef (secrets come from the generated Secret only)`);
  if (env.REDIS_SENTINELS && !env.REDIS_URL) {
    // The Sentinel profile: the data servers' password is REDIS_PASSWORD (checked above), the sentinels' its own.
    check(secretRef(env.REDIS_SENTINEL_PASSWORD) && env.REDIS_SENTINEL_PASSWORD.value === undefined,
      "Deployment/signal: REDIS_SENTINEL_PASSWORD is not a secretKeyRef (secrets come from the generated Secret only)");
  } else {
    check(/^redis:\/\/:\$\(REDIS_PASSWORD\)@[^:@/]+(:\d+)?(\/\d+)?$/.test((env.REDIS_URL || {}).value || ""),
      `Deployment/signal: REDIS_URL ${JSON.stringify((env.REDIS_URL || {}).value)} does not take its password from $(REDIS_PASSWORD)`);
  }
  for (const dep of deployments)
    for (const cont of containersOf(dep))
      for (const e of cont.env || [])
        if (/SECRET|PASSWORD|TOKEN/.test(e.name))
          check(secretRef(e), `${id(dep)} container ${cont.name}: ${e.name} is a literal value, not a secretKeyRef`);
  const sameSecret = (a, b) => secretRef(a) && secretRef(b) && secretRef(a).name === secretRef(b).name && secretRef(a).key === secretRef(b).key;
  const turn = deployments.find((d) => containersOf(d).some((x) => envOf(x).TURN_SECRET) && d !== signal);
  if (check(turn, "no TURN server Deployment (coturn.yaml) with TURN_SECRET"))
    check(sameSecret(envOf(containersOf(turn)[0]).TURN_SECRET, env.TURN_SECRET),
      `${id(turn)}: TURN_SECRET is not the nodes' (the same key of the same Secret)`);
  const redisDep = find("Deployment", "redis");
  if (redisDep)
    check(sameSecret(envOf(containersOf(redisDep)[0]).REDIS_PASSWORD, env.REDIS_PASSWORD),
      "Deployment/redis: REDIS_PASSWORD is not the nodes' (the same key of the same Secret)");

  // Behind the Ingress every client would be the controller's address
  // without TRUSTED_PROXIES (and the per-address budgets one budget for all).
  const trusted = String(settings.TRUSTED_PROXIES || "").split(",").map((x) => x.trim()).filter(Boolean);
  check(trusted.length > 0 && trusted.every((x) => /^[0-9a-fA-F.:]+\/\d{1,3}$/.test(x)),
    `Deployment/signal: TRUSTED_PROXIES ${JSON.stringify(settings.TRUSTED_PROXIES)} is not a CIDR list naming the ingress controller's network`);

  // Capacity: MAX_CONNECTIONS is what the memory limit holds (k8s/README.md, "Capacity").
  const meta = signal.metadata.annotations || {};
  const input = (k) => Number(meta[`signal-cluster/capacity-${k}`]);
  const [base, rss, kernel, slow, headroom] =
    ["base-rss-bytes", "rss-per-connection-bytes", "kernel-per-connection-bytes", "slow-readers", "headroom-percent"].map(input);
  const limit = quantity(((c.resources || {}).limits || {}).memory);
  const maxConn = Number(settings.MAX_CONNECTIONS || 250000);
  const queue = Number(settings.MAX_SEND_QUEUE_BYTES || 1048576);
  if (check([base, rss, kernel, slow, headroom].every((x) => x >= 0) && rss > 0,
    "Deployment/signal: capacity annotations (signal-cluster/capacity-*) missing or not numbers") &&
    check(limit > 0, "Deployment/signal: no memory limit to derive MAX_CONNECTIONS from")) {
    const holds = Math.floor((limit * (1 - headroom / 100) - base - slow * queue) / (rss + kernel));
    console.log(`capacity: ${limit} B x ${1 - headroom / 100} - base ${base} B - ${slow} slow readers x ${queue} B ` +
      `= ${holds} connections of ${rss} + ${kernel} B; MAX_CONNECTIONS ${maxConn}`);
    check(maxConn <= holds, `Deployment/signal: MAX_CONNECTIONS ${maxConn} > the ${holds} the memory limit holds: ` +
      "the pod is OOM-killed before it answers 503");
    check(maxConn >= 0.9 * holds, `Deployment/signal: MAX_CONNECTIONS ${maxConn} < 90 % of the ${holds} the memory limit holds`);
    const request = quantity(((c.resources || {}).requests || {}).memory);
    check(request === limit, `Deployment/signal: memory request ${request} B is not the limit ${limit} B the capacity is derived from`);
  }
  for (const hpa of byKind("HorizontalPodAutoscaler"))
    for (const m of hpa.spec.metrics || [])
      if (m.type === "Pods" && m.pods.metric.name === "signal_connections") {
        const target = quantity(m.pods.target.averageValue);
        check(target >= 0.5 * maxConn && target <= 0.8 * maxConn,
          `${id(hpa)}: target of ${target} connections a pod is not 50-80 % of MAX_CONNECTIONS ${maxConn}`);
      } else {
        check(m.type === "Resource" && m.resource.name === "cpu",
          `${id(hpa)}: scales on ${JSON.stringify(m)}: neither signal_connections nor CPU`);
      }
  // The dev Redis holds the frames kept for parked seats (RESUME_MAX_BYTES each).
  if (redisDep) {
    const rmeta = redisDep.metadata.annotations || {};
    const rbase = Number(rmeta["signal-cluster/capacity-base-rss-bytes"]);
    const parked = Number(rmeta["signal-cluster/capacity-parked-seats"]);
    const kept = Number(settings.RESUME_MAX_BYTES || 1048576);
    const rlimit = quantity(((containersOf(redisDep)[0].resources || {}).limits || {}).memory);
    check(rbase >= 0 && parked >= 0 && rlimit >= rbase + parked * kept,
      `Deployment/redis: memory limit ${rlimit} B < base ${rbase} B + ${parked} parked seats x RESUME_MAX_BYTES ${kept} B`);
  }

  const ann = (signal.spec.template.metadata || {}).annotations || {};
  check(ann["prometheus.io/scrape"] === "true" && ann["prometheus.io/path"] === "/metrics" &&
    String(ann["prometheus.io/port"]) === String(port && port.containerPort),
    "Deployment/signal: prometheus.io/scrape, /path, /port annotations missing or not the node's port");
  check((spec.topologySpreadConstraints || []).length > 0 || (spec.affinity || {}).podAntiAffinity,
    "Deployment/signal: pods are not spread (topologySpreadConstraints or podAntiAffinity)");
}

// Ingress: only what clients use is routed. Paths matched as the Ingress API
// defines it: Exact is the whole path; Prefix matches whole path elements.
function routes(ing, target) {
  for (const rule of ing.spec.rules || [])
    for (const p of (rule.http || {}).paths || []) {
      if (p.pathType === "Exact" && p.path === target) return p;
      if (p.pathType === "Prefix") {
        const want = p.path.split("/").filter(Boolean);
        const have = target.split("/").filter(Boolean);
        if (want.every((part, i) => have[i] === part)) return p;
      }
    }
  return null;
}
for (const ing of byKind("Ingress")) {
  for (const rule of ing.spec.rules || [])
    for (const p of (rule.http || {}).paths || [])
      check(p.pathType === "Exact" || p.pathType === "Prefix",
        `${id(ing)}: path ${p.path} is ${p.pathType}: what it routes depends on the controller`);
  for (const path of ["/metrics", "/api/ping", "/healthz", "/readyz"])
    check(!routes(ing, path), `${id(ing)}: routes ${path} (${JSON.stringify(routes(ing, path))}): reachable from the internet`);
  for (const path of ["/", "/api/ice-servers"]) check(routes(ing, path), `${id(ing)}: does not route ${path}, which clients need`);
}

// Services select pods and their target ports exist.
for (const svc of byKind("Service")) {
  const dep = deployments.find((d) => selects(svc.spec.selector, podLabels(d)));
  if (!check(dep, `${id(svc)}: selects no Deployment's or StatefulSet's pods`)) continue;
  for (const p of svc.spec.ports || [])
    check(containersOf(dep).some((c) => portOk(c, p.targetPort === undefined ? p.port : p.targetPort)),
      `${id(svc)}: targetPort ${p.targetPort} is not a port of ${id(dep)}`);
}

// Ingress backends exist; WebSocket timeouts are long.
for (const ing of byKind("Ingress")) {
  const a = ing.metadata.annotations || {};
  for (const k of ["proxy-read-timeout", "proxy-send-timeout"])
    check(Number(a[`nginx.ingress.kubernetes.io/${k}`]) >= 3600, `${id(ing)}: nginx.ingress.kubernetes.io/${k} below 3600 s`);
  for (const rule of ing.spec.rules || [])
    for (const p of (rule.http || {}).paths || []) {
      const b = p.backend.service;
      const svc = b && find("Service", b.name);
      check(svc && (svc.spec.ports || []).some((sp) => (b.port.name ? sp.name === b.port.name : sp.port === b.port.number)),
        `${id(ing)}: backend ${b && b.name}:${b && JSON.stringify(b.port)} is not a Service port`);
    }
}

// Autoscaler and disruption budget aim at the Deployment.
for (const hpa of byKind("HorizontalPodAutoscaler")) {
  const t = hpa.spec.scaleTargetRef;
  const dep = find(t.kind, t.name);
  check(dep, `${id(hpa)}: scaleTargetRef ${t.kind}/${t.name} is not rendered`);
  if (dep) check(hpa.spec.minReplicas <= dep.spec.replicas && dep.spec.replicas <= hpa.spec.maxReplicas,
    `${id(hpa)}: Deployment replicas ${dep.spec.replicas} outside minReplicas..maxReplicas`);
}
for (const pdb of byKind("PodDisruptionBudget")) {
  const dep = deployments.find((d) => selects(pdb.spec.selector.matchLabels, podLabels(d)));
  if (check(dep, `${id(pdb)}: selects no Deployment's or StatefulSet's pods`) && pdb.spec.minAvailable !== undefined)
    check(pdb.spec.minAvailable < dep.spec.replicas, `${id(pdb)}: minAvailable leaves no disruption possible`);
}

// ------------------------------------------------------------------ result ----

for (const d of docs) console.log(`document ${d.apiVersion} ${id(d)}`);
for (const p of problems) console.log(`PROBLEM ${p}`);
console.log(`k8s: ${docs.length} documents against kubernetes-models ${MODELS_VERSION} schemas, ` +
  `${checks} checks, ${problems.length} problems`);
if (mutation) {
  const caught = problems.some((p) => mutation.expect.test(p));
  console.log(`mutation ${process.env.MUTATE} (${mutation.what}): ${caught ? "caught" : `NOT caught (want a problem matching ${mutation.expect})`}`);
  process.exit(caught ? 0 : 1);
}
process.exit(problems.length ? 1 : 0);
