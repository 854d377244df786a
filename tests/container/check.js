#!/usr/bin/env node
// The container checks (tests/container/run.sh, ctest label `container`), on the
// images `deploy/podman.sh build` made from the working tree:
//   node check.js image     signal-node:local alone, as compose and Kubernetes run it
//   node check.js compose   deploy/docker-compose.yml (+ the host-network file) through
//                           `deploy/podman.sh compose`, exercised through its HAProxy
// Every client here is a real WebSocket (ws) on loopback. Ends with "N passed, N failed";
// exits 1 if anything failed.
"use strict";
const { spawn, spawnSync } = require("child_process");
const crypto = require("crypto");
const dgram = require("dgram");
const fs = require("fs");
const http = require("http");
const net = require("net");
const os = require("os");
const path = require("path");
const WebSocket = require("ws");

const root = path.resolve(__dirname, "../..");
const podmanSh = path.join(root, "deploy/podman.sh");
const image = process.env.IMAGE || "signal-node:local";
const env = Object.fromEntries(fs.readFileSync(path.join(root, "deploy/signal.env"), "utf8").split("\n")
  .filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
const drainDelayMs = Number(env.DRAIN_DELAY_MS || 3000);
// The documented worst case of a drain (deploy/README.md): drain delay + close handshakes + leaving Redis.
const drainBudgetMs = drainDelayMs + Number(env.SHUTDOWN_TIMEOUT_MS || 10000) + 2000;

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`PASS  ${name}`);
  } else {
    failed++;
    console.log(`FAIL  ${name}`);
  }
  if (detail !== undefined && detail !== "") console.log(String(detail).replace(/^/gm, "      "));
  return ok;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  return { status: r.status, stdout: r.stdout || "", stderr: r.stderr || "", out: (r.stdout || "") + (r.stderr || "") };
}
const podman = (...args) => run("podman", args);
function must(r, what) {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.out}`);
  return r.stdout;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Polls fn until it returns something truthy; throws after timeoutMs. The
// first polls come quickly (most conditions hold within milliseconds), later
// ones back off to a few a second, so a slow start does not spawn podman
// dozens of times a second; never past the deadline.
async function waitFor(what, timeoutMs, fn) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let pause = 5; ; pause = Math.min(2 * pause, 200)) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await sleep(Math.min(pause, left));
  }
}

// n distinct free loopback ports (each bound to port 0, read, released together).
async function freePorts(n) {
  const servers = [];
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    await new Promise((resolve, reject) => s.listen(0, "127.0.0.1", resolve).on("error", reject));
    servers.push(s);
  }
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function get(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, timeout: 2000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}
const ping = async (port) => JSON.parse((await get(port, "/api/ping")).body);
function refused(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve(false); });
    s.on("error", (e) => resolve(e.code === "ECONNREFUSED"));
  });
}

// A WebSocket client that queues what it receives and remembers how it was closed.
class Client {
  constructor(port) {
    this.port = port;
    this.queue = [];
    this.waiters = [];
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    this.ws.on("message", (data) => {
      this.queue.push(data.toString());
      this.waiters.splice(0).forEach((w) => w());
    });
    this.closed = new Promise((resolve) => this.ws.on("close", (code) => {
      this.closedAt = Date.now();
      resolve(code);
      this.waiters.splice(0).forEach((w) => w());
    }));
    this.opened = new Promise((resolve, reject) => {
      this.ws.on("open", resolve);
      this.ws.on("error", reject);
    });
  }
  send(text) { this.ws.send(text); }
  // The next text frame, as sent.
  async nextText(timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.closedAt) throw new Error(`socket to :${this.port} closed while waiting for a message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message from :${this.port} within ${timeoutMs} ms`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.queue.shift();
  }
  async next(type, timeoutMs) {
    const m = JSON.parse(await this.nextText(timeoutMs));
    if (type && m.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(m)}`);
    return m;
  }
  close() { this.ws.close(1000); }
}

// Host creates a room through hostPort, guest joins through guestPort, and a signal
// goes each way. Returns the two open clients and the room.
async function pair(hostPort, guestPort) {
  const host = new Client(hostPort);
  await host.opened;
  host.send(JSON.stringify({ type: "create-room" }));
  const created = await host.next("room-created");
  if (!/^\d{6}$/.test(created.roomId)) throw new Error(`room id ${created.roomId}`);
  const guest = new Client(guestPort);
  await guest.opened;
  guest.send(JSON.stringify({ type: "join-room", roomId: created.roomId }));
  await guest.next("peer-joined");
  await host.next("peer-joined");
  return { host, guest, room: created.roomId };
}
// A signal from one member arrives at the other byte for byte.
async function relays(from, to, room, what) {
  const s = JSON.stringify({ type: "signal", roomId: room, data: { sdp: `v=0 ${what}`, n: Math.random() } });
  from.send(s);
  const got = await to.nextText();
  if (got !== s) throw new Error(`sent ${s}\n got ${got}`);
  return true;
}
async function attempt(name, fn) {
  try {
    const detail = await fn();
    return check(name, true, typeof detail === "string" ? detail : undefined);
  } catch (e) {
    return check(name, false, e.stack || e.message);
  }
}

// `count` consecutive UDP ports free on 127.0.0.1 (coturn's relay range), from a random base.
async function freeUdpRange(count) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 40000 + Math.floor(Math.random() * 8000);
    const sockets = [];
    let ok = true;
    for (let p = base; p < base + count && ok; p++) {
      const s = dgram.createSocket("udp4");
      ok = await new Promise((resolve) => {
        s.once("error", () => resolve(false));
        s.bind(p, "127.0.0.1", () => resolve(true));
      });
      sockets.push(s);
    }
    await Promise.all(sockets.map((s) => new Promise((resolve) => { try { s.close(resolve); } catch { resolve(); } })));
    if (ok) return [base, base + count - 1];
  }
  throw new Error(`no ${count} consecutive free UDP ports`);
}

// A TURN allocation through coturn on 127.0.0.1:port with a REST API credential (turnutils_uclient,
// from Debian's coturn: two clients relay to each other through their allocations).
function turnRelay(port, username, password) {
  return run("timeout", ["30", "turnutils_uclient", "-y", "-c", "-n", "2", "-u", username, "-w", password,
    "-p", String(port), "127.0.0.1"]);
}

// ------------------------------------------------------------------- image ----

async function imageChecks() {
  const inspect = JSON.parse(must(podman("image", "inspect", image), "podman image inspect"))[0];
  const cfg = inspect.Config || {};
  check(`${image}: USER 10001:10001, ENTRYPOINT signal-node, STOPSIGNAL SIGTERM`,
    cfg.User === "10001:10001" && JSON.stringify(cfg.Entrypoint) === '["/usr/local/bin/signal-node"]' &&
      cfg.StopSignal === "SIGTERM", JSON.stringify({ User: cfg.User, Entrypoint: cfg.Entrypoint, StopSignal: cfg.StopSignal }));

  // Size: the whole image, and what the runtime stage adds to its base.
  const base = JSON.parse(must(podman("image", "inspect", "debian:bookworm-slim"), "inspect base"))[0];
  const mb = (b) => (b / 1e6).toFixed(0);
  const maxMb = Number(process.env.MAX_IMAGE_MB || 120);
  check(`${image} is at most ${maxMb} MB (MAX_IMAGE_MB)`, inspect.Size <= maxMb * 1e6,
    `${image}: ${mb(inspect.Size)} MB = debian:bookworm-slim ${mb(base.Size)} MB + runtime stage ${mb(inspect.Size - base.Size)} MB`);

  // Nothing of the build stage: no compiler, build tool, headers, -dev package or test binary.
  const probe = run("podman", ["run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "/bin/bash", image, "-c", `
    for t in gcc g++ cc c++ cpp clang clang++ ld as cmake ninja make ccache pkg-config gdb valgrind doctest; do
      command -v "$t" > /dev/null && echo "tool: $(command -v "$t")"
    done
    find /usr/include /usr/local/include -type f 2> /dev/null | head -3 | sed 's/^/header: /'
    dpkg-query -W -f='\${Package}\\n' | grep -E -- '-dev$|^(libstdc\\+\\+-|libgcc-[0-9]+-dev|cpp-|g\\+\\+)' | sed 's/^/package: /'
    for f in /usr/local/bin/*; do case "$f" in */signal-node|*/signal-console) ;; *) echo "extra binary: $f" ;; esac; done
    find / -xdev \\( -name '*_tests' -o -name 'signal-bench' -o -name '*.a' \\) -type f 2> /dev/null | sed 's/^/test or build file: /'
    exit 0`]);
  check(`${image}: no compiler, build tool, header, -dev package, test binary or static library`,
    probe.status === 0 && probe.stdout.trim() === "", probe.out.trim());

  const name = `signal-image-test-${process.pid}`;
  const [port] = await freePorts(1);
  let host;
  let guest;
  try {
    // As compose and Kubernetes run it: read-only root without even a tmpfs, no capability.
    must(podman("run", "-d", "--name", name, "--network", "host", "--read-only", "--read-only-tmpfs=false",
      "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--env-file", path.join(root, "deploy/signal.env"),
      "-e", "NODE_ID=image-test", "-e", `WS_PORT=${port}`, "-e", "BIND_ADDRESS=127.0.0.1", "-e", "ADMIN_PORT=0", image),
    "podman run");
    await attempt(`starts and answers /healthz on :${port}`, () =>
      waitFor("/healthz", 30000, async () => (await get(port, "/healthz")).status === 200));

    const ci = JSON.parse(must(podman("container", "inspect", name), "podman inspect"))[0];
    const status = fs.readFileSync(`/proc/${ci.State.Pid}/status`, "utf8");
    const ids = (k) => (status.match(new RegExp(`^${k}:\\s+(.*)$`, "m")) || [])[1];
    check("the node process runs as uid 10001, gid 10001",
      /^10001\s+10001\s+10001\s+10001$/.test(ids("Uid")) && /^10001\s+10001\s+10001\s+10001$/.test(ids("Gid")),
      `Uid: ${ids("Uid")}  Gid: ${ids("Gid")}`);
    const w = podman("exec", "--user", "0", name, "/bin/sh", "-c", "echo x > /probe; echo x > /srv/signal/probe; echo x > /tmp/probe");
    check("read-only root filesystem: even root cannot write /, /srv/signal or /tmp",
      ci.HostConfig.ReadonlyRootfs === true && w.status !== 0 && (w.out.match(/Read-only file system/g) || []).length === 3,
      w.out.trim());

    await attempt("/api/ping answers ok (embedded mode, its NODE_ID) and /readyz 200", async () => {
      const p = await get(port, "/api/ping");
      const body = JSON.parse(p.body);
      const r = await get(port, "/readyz");
      if (p.status !== 200 || body.status !== "ok" || body.nodeId !== "image-test" || body.mode !== "embedded" || r.status !== 200)
        throw new Error(`/api/ping ${p.status} ${p.body}; /readyz ${r.status}`);
      return p.body;
    });
    await attempt("a room is created and joined, a signal relays each way unchanged", async () => {
      ({ host, guest } = await pair(port, port).then(async (p) => {
        await relays(p.host, p.guest, p.room, "offer");
        await relays(p.guest, p.host, p.room, "answer");
        return p;
      }));
    });

    // SIGTERM (podman stop sends the image's STOPSIGNAL): /readyz fails at once while the
    // node still serves, after DRAIN_DELAY_MS the clients get 1012, and the node exits 0.
    await attempt(`podman stop: /readyz 503 while serving, clients closed 1012 after DRAIN_DELAY_MS (${drainDelayMs} ms), exit 0 within ${drainBudgetMs / 1000} s`, async () => {
      if (!host) throw new Error("no clients (the room check failed)");
      const t0 = Date.now();
      const stop = spawn("podman", ["stop", "-t", String(Math.ceil(drainBudgetMs / 1000) + 5), name], { stdio: "ignore" });
      const stopped = new Promise((resolve) => stop.on("exit", () => resolve(Date.now())));
      await waitFor("/readyz 503", 2000, async () => (await get(port, "/readyz")).status === 503);
      const stillServing = (await get(port, "/api/ping")).status;
      const codes = await Promise.all([host.closed, guest.closed]);
      const closedAfter = Math.min(host.closedAt, guest.closedAt) - t0;
      const exitedAfter = (await stopped) - t0;
      const exit = JSON.parse(must(podman("container", "inspect", name), "inspect"))[0].State.ExitCode;
      const detail = `/readyz 503 with /api/ping ${stillServing}; close codes ${codes}; closed ${closedAfter} ms and exited ${exitedAfter} ms after SIGTERM; exit code ${exit}`;
      if (stillServing !== 200 || codes.some((c) => c !== 1012) || closedAfter < drainDelayMs - 250 ||
          exitedAfter > drainBudgetMs || exit !== 0)
        throw new Error(detail);
      return detail;
    });
  } catch (e) {
    check("image run", false, e.stack || e.message);
  } finally {
    for (const c of [host, guest]) if (c) c.ws.terminate();
    if (failed) console.log(`--- podman logs ${name} (last 40 lines) ---\n${podman("logs", "--tail", "40", name).out}`);
    podman("rm", "-f", "-t", "0", name);
  }
}

// ----------------------------------------------------------------- compose ----

async function composeChecks() {
  const project = `signaltest${process.pid}`;
  const [redisPort, lb, turnPort, ...nodePorts] = await freePorts(6);
  const [relayMin, relayMax] = await freeUdpRange(11);
  const state = path.join(os.tmpdir(), `signal-compose-${process.pid}`);
  fs.mkdirSync(state, { recursive: true });
  const turnSecret = crypto.randomBytes(24).toString("hex");
  const cenv = {
    ...process.env, STATE_DIR: state, COMPOSE_PROJECT_NAME: project, REDIS_PORT: String(redisPort),
    LB_PORT: String(lb), NODE1_PORT: String(nodePorts[0]), NODE2_PORT: String(nodePorts[1]), NODE3_PORT: String(nodePorts[2]),
    TURN_SECRET: turnSecret, TURN_PORT: String(turnPort), TURN_MIN_PORT: String(relayMin), TURN_MAX_PORT: String(relayMax),
    // The check's two TURN clients relay to each other's allocation, on loopback.
    TURN_ALLOW_LOOPBACK: "1",
  };
  const compose = (...args) => run("bash", [podmanSh, "compose", ...args], { env: cenv });
  const nodes = { node1: nodePorts[0], node2: nodePorts[1], node3: nodePorts[2] };
  const containers = () => podman("ps", "-a", "-q", "--filter", `label=com.docker.compose.project=${project}`).stdout.split("\n").filter(Boolean);
  console.log(`project ${project}: redis :${redisPort}, nodes :${nodePorts.join(" :")}, haproxy :${lb}, ` +
    `coturn :${turnPort} (relay ${relayMin}-${relayMax})`);
  const open = [];
  try {
    const t0 = Date.now();
    const up = compose("up", "-d", "--no-build");
    if (!check(`docker-compose up -d (through podman's API) in ${((Date.now() - t0) / 1000).toFixed(1)} s`, up.status === 0, up.status ? up.out : ""))
      return;
    await attempt("the balancer is ready and every node sees a cluster of 3 with Redis up", () =>
      waitFor("3 ready nodes behind the balancer", 60000, async () => {
        if ((await get(lb, "/readyz")).status !== 200) return false;
        for (const port of Object.values(nodes)) {
          const p = await ping(port);
          if (p.clusterNodes !== 3 || p.redis !== "up" || (await get(port, "/readyz")).status !== 200) return false;
        }
        return "ok";
      }));
    const inspect = JSON.parse(must(podman("container", "inspect", ...containers()), "inspect"));
    const byService = Object.fromEntries(inspect.map((c) => [c.Config.Labels["com.docker.compose.service"], c]));
    check("node containers: user 10001, read-only root, all capabilities dropped, host network",
      Object.keys(nodes).every((n) => byService[n] && byService[n].Config.User === "10001:10001" &&
        byService[n].HostConfig.ReadonlyRootfs && byService[n].HostConfig.NetworkMode === "host" &&
        (byService[n].HostConfig.CapDrop || []).length > 0 && (byService[n].EffectiveCaps || []).length === 0),
      Object.entries(byService).map(([s, c]) => `${s}: ${c.ImageName} user=${c.Config.User || "root"} ro=${c.HostConfig.ReadonlyRootfs} caps=${(c.EffectiveCaps || []).length}`).join("\n"));

    // TURN: the credential a node hands out through the balancer is what coturn accepts.
    await attempt("coturn relays with the credential /api/ice-servers hands out (shared TURN_SECRET), refuses a forged one", async () => {
      const r = await get(lb, "/api/ice-servers");
      if (r.status !== 200) throw new Error(`/api/ice-servers: ${r.status}`);
      const turn = JSON.parse(r.body).iceServers.find((s) => s.urls.some((u) => u.startsWith("turn:")));
      if (!turn) throw new Error(`no TURN server listed: ${r.body}`);
      const want = `turn:127.0.0.1:${turnPort}?transport=udp`;
      if (!turn.urls.includes(want)) throw new Error(`TURN URLs ${JSON.stringify(turn.urls)} lack ${want}`);
      const good = await waitFor("coturn to answer", 20000, () => {
        const g = turnRelay(turnPort, turn.username, turn.credential);
        return g.status === 0 ? g : false;
      });
      const forged = turnRelay(turnPort, turn.username, Buffer.from("not the secret").toString("base64"));
      if (forged.status === 0) throw new Error(`a forged credential was accepted:\n${forged.out}`);
      return `user ${turn.username}: ${good.out.match(/tot_recv_bytes ~ \d+/) || "relayed"}; forged: refused (exit ${forged.status})`;
    });

    // Which node holds a connection: ask each node directly.
    const holders = async () => {
      const out = [];
      for (const [n, port] of Object.entries(nodes)) {
        const p = await ping(port).catch(() => null);
        for (let i = 0; p && i < p.nodeClientsConnected; i++) out.push(n);
      }
      return out;
    };
    let first;
    await attempt("through the balancer: a room created is joined, host and guest on different nodes, signals relay both ways", async () => {
      first = await pair(lb, lb);
      open.push(first.host, first.guest);
      const on = await waitFor("two nodes holding one client each", 5000, async () => {
        const h = await holders();
        return h.length === 2 && h[0] !== h[1] ? h : false;
      });
      await relays(first.host, first.guest, first.room, "offer across nodes");
      await relays(first.guest, first.host, first.room, "answer across nodes");
      return `room ${first.room}: clients on ${on.join(" and ")}`;
    });

    // Kill (SIGKILL) one of the two nodes holding the room's members: its member's socket
    // closes, the other member is told (peer-disconnected), the survivors count 2 nodes.
    let victim;
    await attempt("compose kill of one node: its member is cut, the other told, the others count 2 nodes", async () => {
      if (!first) throw new Error("no room (the previous check failed)");
      victim = (await holders())[1];
      const k = compose("kill", victim);
      if (k.status !== 0) throw new Error(k.out);
      const [lost, kept] = await waitFor("the killed node's member to be cut", 10000, () =>
        first.host.closedAt ? [first.host, first.guest] : first.guest.closedAt ? [first.guest, first.host] : false);
      const m = await kept.next(null, 20000);
      if (m.type !== "peer-disconnected") throw new Error(`the other member got ${JSON.stringify(m)}`);
      const survivors = Object.keys(nodes).filter((n) => n !== victim);
      await waitFor("the survivors to count 2 nodes", 30000, async () => {
        for (const n of survivors) if ((await ping(nodes[n])).clusterNodes !== 2) return false;
        return true;
      });
      return `killed ${victim}; the ${lost === first.host ? "host" : "guest"} was cut, the other got ${m.type}; ${survivors.join(" and ")} count 2 nodes`;
    });
    await attempt("after the kill, rooms through the balancer still work (3 rooms, signals relayed)", async () => {
      if (!victim) throw new Error("no node was killed");
      await waitFor(`${victim} refusing connections`, 10000, () => refused(nodes[victim]));
      for (let i = 0; i < 3; i++) {
        const p = await pair(lb, lb);
        open.push(p.host, p.guest);
        await relays(p.host, p.guest, p.room, `after kill ${i}`);
        await relays(p.guest, p.host, p.room, `after kill ${i}`);
      }
      const h = await holders();
      if (h.includes(victim)) throw new Error(`${victim} holds clients: ${h}`);
      return `clients now on ${[...new Set(h)].join(", ")}`;
    });
  } catch (e) {
    check("compose cluster", false, e.stack || e.message);
  } finally {
    for (const c of open) c.ws.terminate();
    if (failed) console.log(`--- docker-compose logs (last 30 lines each) ---\n${compose("logs", "--no-color", "--tail", "30").out}`);
    const t0 = Date.now();
    const down = compose("down", "--remove-orphans", "--timeout", "20");
    check(`docker-compose down in ${((Date.now() - t0) / 1000).toFixed(1)} s`, down.status === 0, down.status ? down.out : "");
    const left = containers();
    const networks = podman("network", "ls", "-q", "--filter", `label=com.docker.compose.project=${project}`).stdout.trim();
    const volumes = podman("volume", "ls", "-q", "--filter", `label=com.docker.compose.project=${project}`).stdout.trim();
    const listening = [];
    for (const port of [redisPort, lb, turnPort, ...nodePorts]) if (!(await refused(port))) listening.push(port);
    check("down leaves nothing behind: no container, network or volume of the project, no port listening",
      left.length === 0 && networks === "" && volumes === "" && listening.length === 0,
      `containers: ${left.join(" ") || "none"}; networks: ${networks || "none"}; volumes: ${volumes || "none"}; listening: ${listening.join(" ") || "none"}`);
    const stop = run("bash", [podmanSh, "service", "stop"], { env: cenv });
    const pids = fs.readdirSync(state).filter((f) => f.endsWith(".pid"));
    check("podman's API service and the health ticker are stopped", stop.status === 0 && pids.length === 0 && !fs.existsSync(path.join(state, "podman.sock")),
      stop.out.trim());
    fs.rmSync(state, { recursive: true, force: true });
  }
}

// What an earlier run cut short (a ctest timeout kills this process, not the containers or the
// API service it started) is removed first: containers, compose projects and state directories
// of these tests whose names carry the pid of a process that is gone.
const gone = (pid) => {
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return e.code === "ESRCH";
  }
};
function removeLeftovers() {
  const ids = [
    ...podman("ps", "-a", "--format", "{{.ID}} {{.Names}}").stdout.split("\n")
      .map((l) => l.match(/^(\S+) signal-image-test-(\d+)$/)).filter((m) => m && gone(m[2])).map((m) => m[1]),
    ...podman("ps", "-a", "--format", "{{.ID}} {{index .Labels \"com.docker.compose.project\"}}").stdout.split("\n")
      .map((l) => l.match(/^(\S+) signaltest(\d+)$/)).filter((m) => m && gone(m[2])).map((m) => m[1]),
  ];
  if (ids.length) {
    console.log(`removing ${ids.length} container(s) left by an earlier run`);
    podman("rm", "-f", "-t", "0", ...ids);
  }
  for (const d of fs.readdirSync(os.tmpdir())) {
    const m = d.match(/^signal-compose-(\d+)$/);
    if (!m || !gone(m[1])) continue;
    const dir = path.join(os.tmpdir(), d);
    run("bash", [podmanSh, "service", "stop"], { env: { ...process.env, STATE_DIR: dir } });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(async () => {
  const what = process.argv[2];
  removeLeftovers();
  if (what === "image") await imageChecks();
  else if (what === "compose") await composeChecks();
  else {
    console.error("usage: check.js image|compose");
    process.exit(2);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
