// Broken inputs for validate-k8s.js: each takes the rendered k8s/ documents
// and breaks one thing a rule of validate-k8s.js is there for; `expect` is the
// problem that rule must report. validate.sh runs every one (MUTATE=NAME), so
// no rule can silently stop catching what it was written for.
"use strict";

const find = (docs, kind, name) => docs.find((d) => d.kind === kind && d.metadata.name === name);
const signal = (docs) => find(docs, "Deployment", "signal").spec.template.spec.containers[0];
const setEnv = (container, name, entry) => {
  const env = container.env || (container.env = []);
  const i = env.findIndex((e) => e.name === name);
  if (entry === null) env.splice(i, 1);
  else if (i >= 0) env[i] = { name, ...entry };
  else env.push({ name, ...entry });
};

module.exports = {
  "secret-literal": {
    what: "the TURN secret as a value in the Deployment",
    apply: (docs) => setEnv(signal(docs), "TURN_SECRET", { value: "CHANGE-ME" }),
    expect: /TURN_SECRET is not a secretKeyRef/,
  },
  "secret-shipped": {
    what: "a Secret shipped in the manifests, as secret.yaml was",
    apply: (docs) => docs.push({ apiVersion: "v1", kind: "Secret", metadata: { name: "signal-redis" }, type: "Opaque",
      stringData: { password: "CHANGE-ME-placeholder-redis-password" } }),
    expect: /Secret\/signal-redis: not made by kustomization\.yaml's secretGenerator/,
  },
  "redis-url-literal": {
    what: "a password written into REDIS_URL",
    apply: (docs) => setEnv(signal(docs), "REDIS_URL", { value: "redis://:hunter2@redis:6379" }),
    expect: /REDIS_URL .* does not take its password from/,
  },
  "turn-secret-mismatch": {
    what: "coturn checking credentials with another key than the nodes sign them with",
    apply: (docs) => setEnv(find(docs, "Deployment", "signal-turn").spec.template.spec.containers[0], "TURN_SECRET",
      { valueFrom: { secretKeyRef: { name: "signal-secrets-0000000000", key: "other" } } }),
    expect: /TURN_SECRET is not the nodes'/,
  },
  "capacity": {
    what: "MAX_CONNECTIONS back at the default 250,000 with a 1 GiB limit",
    apply: (docs) => setEnv(signal(docs), "MAX_CONNECTIONS", { value: "250000" }),
    expect: /MAX_CONNECTIONS 250000 > the \d+ the memory limit holds/,
  },
  "capacity-unused": {
    what: "a memory limit raised without MAX_CONNECTIONS",
    apply: (docs) => {
      const c = signal(docs);
      c.resources.limits.memory = "4Gi";
      c.resources.requests.memory = "4Gi";
    },
    expect: /MAX_CONNECTIONS \d+ < 90 % of the \d+ the memory limit holds/,
  },
  "readiness": {
    what: "readiness failing the pod on one slow probe",
    apply: (docs) => { signal(docs).readinessProbe.failureThreshold = 1; },
    expect: /readinessProbe failureThreshold 1/,
  },
  "readiness-slow": {
    what: "readiness taking half a minute to see Redis gone",
    apply: (docs) => { signal(docs).readinessProbe.periodSeconds = 10; },
    expect: /periodSeconds x failureThreshold = 30 s/,
  },
  "drain": {
    what: "the grace period of before the parking step",
    apply: (docs) => { find(docs, "Deployment", "signal").spec.template.spec.terminationGracePeriodSeconds = 25; },
    expect: /terminationGracePeriodSeconds 25 < /,
  },
  "hpa-target": {
    what: "the autoscaler aiming past MAX_CONNECTIONS",
    apply: (docs) => {
      const hpa = find(docs, "HorizontalPodAutoscaler", "signal");
      hpa.spec.metrics = [{ type: "Pods", pods: { metric: { name: "signal_connections" },
        target: { type: "AverageValue", averageValue: "60000" } } }];
    },
    expect: /target of 60000 connections a pod is not 50-80 %/,
  },
  "redis-memory": {
    what: "a dev Redis too small for the parked seats' frames",
    apply: (docs) => { find(docs, "Deployment", "redis").spec.template.spec.containers[0].resources.limits.memory = "128Mi"; },
    expect: /Deployment\/redis: memory limit \d+ B < base/,
  },
  "ingress-prefix": {
    what: "the Ingress routing every path, as it did",
    apply: (docs) => {
      find(docs, "Ingress", "signal").spec.rules[0].http.paths[0].pathType = "Prefix";
    },
    expect: /routes \/metrics .*reachable from the internet/,
  },
  "trusted-proxies": {
    what: "no TRUSTED_PROXIES: every client is the ingress controller",
    apply: (docs) => setEnv(signal(docs), "TRUSTED_PROXIES", null),
    expect: /TRUSTED_PROXIES undefined is not a CIDR list/,
  },
};
