// End-to-end: two headless Chromium pages meet through signal-node and move a
// 5 MB file over a WebRTC DataChannel; the receiver's SHA-256 must equal the
// sender's. Everything runs on loopback: redis-server, signal-node(s), coturn.
//
//   node e2e.js single        one node
//   node e2e.js cluster       two nodes sharing a Redis, one page on each
//   node e2e.js relay         TURN only (iceTransportPolicy "relay") through coturn,
//                             credentials from /api/ice-servers
//   node e2e.js wrong-secret  the same with a node whose TURN secret is wrong:
//                             coturn must refuse the credential
// Options: --screenshot FILE (the receiving page after the transfer).
"use strict";
const { chromium } = require("playwright-core");
const { spawn } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const net = require("net");
const os = require("os");
const path = require("path");

const root = path.resolve(__dirname, "../..");
const nodeBin = process.env.SIGNAL_NODE_BIN || path.join(root, "build/signal-node");
const scenario = process.argv[2];
const shotIdx = process.argv.indexOf("--screenshot");
const screenshot = shotIdx > 0 ? process.argv[shotIdx + 1] : null;
const children = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "signal-e2e-"));

function log(...a) { console.log(`[e2e ${scenario}]`, ...a); }

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// Starts a process; resolves once a line of its output matches `ready`.
function start(name, cmd, args, env, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${out}`)), 20000);
    const onData = (d) => {
      out += d;
      fs.appendFileSync(path.join(tmp, `${name}.log`), d);
      const m = out.match(ready);
      if (m) { clearTimeout(timer); child.stdout.off("data", onData); resolve({ child, match: m, output: () => fs.readFileSync(path.join(tmp, `${name}.log`), "utf8") }); }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d) => fs.appendFileSync(path.join(tmp, `${name}.log`), d));
    child.on("exit", (code) => reject(new Error(`${name} exited with ${code}:\n${out}`)));
  });
}

async function startNode(name, env) {
  const p = await start(name, nodeBin, [], {
    WS_PORT: "0", BIND_ADDRESS: "127.0.0.1", ENV_FILE: "/nonexistent", NODE_ID: name, IO_THREADS: "2",
    WEB_DIR: path.join(root, "web"), DRAIN_DELAY_MS: "0", ...env,
  }, /event=listening .* port=(\d+) .*mode=\w+\n/);
  return { ...p, port: Number(p.match[1]), origin: `http://127.0.0.1:${p.match[1]}` };
}

async function startRedis() {
  const port = await freePort();
  await start("redis", "redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {}, /Ready to accept connections/);
  return `redis://127.0.0.1:${port}`;
}

// coturn buffers its stdout: it logs to a file, which is polled.
async function startTurn(secret) {
  const port = await freePort();
  const logFile = path.join(tmp, "coturn.log");
  const child = spawn("turnserver", [
    "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", `--listening-port=${port}`,
    "--min-port=49160", "--max-port=49200", "--use-auth-secret", `--static-auth-secret=${secret}`,
    "--realm=signal.test", "--no-tls", "--no-dtls", "--allow-loopback-peers", "--no-cli",
    "--fingerprint", `--log-file=${logFile}`, "--simple-log", "--verbose",
  ], { stdio: "ignore" });
  children.push(child);
  const output = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "");
  const deadline = Date.now() + 20000;
  while (!/UDP listener opened/.test(output())) {
    if (Date.now() > deadline) throw new Error(`coturn did not start:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output, url: `turn:127.0.0.1:${port}?transport=udp` };
}

async function waitFor(page, fn, what, timeout = 60000) {
  try {
    return await page.waitForFunction(fn, null, { timeout, polling: 100 });
  } catch (e) {
    throw new Error(`timed out waiting for ${what}: ${await page.evaluate(() => JSON.stringify({ errors: window.demo.errors, link: document.getElementById("link-state").textContent }))}`);
  }
}

// The type of the local candidate of the pair the connection uses.
async function selectedCandidateType(page) {
  return page.evaluate(async () => {
    const stats = await window.demo.pc.getStats();
    let pair = null;
    stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
    if (!pair) stats.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
    return pair ? stats.get(pair.localCandidateId).candidateType : null;
  });
}

async function run() {
  let hostOrigin, guestOrigin, query = "", expectFailure = false, turn = null;
  if (scenario === "single") {
    const n = await startNode("node-a", {});
    hostOrigin = guestOrigin = n.origin;
  } else if (scenario === "cluster") {
    const redis = await startRedis();
    const a = await startNode("node-a", { REDIS_URL: redis });
    const b = await startNode("node-b", { REDIS_URL: redis });
    hostOrigin = a.origin; guestOrigin = b.origin;
  } else if (scenario === "relay" || scenario === "wrong-secret") {
    turn = await startTurn("turn-secret-for-tests");
    const n = await startNode("node-a", { TURN_URLS: turn.url, TURN_SECRET: scenario === "relay" ? "turn-secret-for-tests" : "not-the-secret", TURN_TTL: "600" });
    hostOrigin = guestOrigin = n.origin;
    query = "?relay=1";
    expectFailure = scenario === "wrong-secret";
  } else {
    throw new Error("usage: node e2e.js single|cluster|relay|wrong-secret [--screenshot FILE]");
  }

  const file = path.join(tmp, "payload.bin");
  fs.writeFileSync(file, crypto.randomBytes(5 * 1024 * 1024));
  const expected = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"],
  });
  try {
    const host = await (await browser.newContext()).newPage();
    const guest = await (await browser.newContext({ viewport: { width: 900, height: 820 } })).newPage();
    for (const p of [host, guest]) p.on("pageerror", (e) => log("page error:", e.message));
    await host.goto(hostOrigin + "/" + query);
    await guest.goto(guestOrigin + "/" + query);
    await waitFor(host, () => window.demo && document.readyState === "complete", "host page");

    await host.click("#create");
    await waitFor(host, () => /^\d{6}$/.test(document.getElementById("room-code").textContent), "room code");
    const code = await host.textContent("#room-code");
    log(`room ${code}; host on ${hostOrigin}, guest on ${guestOrigin}`);
    await guest.fill("#code", code);
    await guest.click("#join");

    if (expectFailure) {
      // Only relay candidates are allowed, and coturn must refuse the credential:
      // gathering ends with no relay candidate and the DataChannel never opens.
      await waitFor(host, () => window.demo.pc && window.demo.pc.iceGatheringState === "complete", "ICE gathering", 60000);
      const deadline = Date.now() + 15000;
      // A 401 to a request that carried a user name (the first request of any
      // allocation is an unauthenticated probe that gets 401 too).
      const refused = /user <\d+:[0-9a-f]+>: incoming packet message processed, error 401/g;
      while (Date.now() < deadline && !refused.test(turn.output())) await new Promise((r) => setTimeout(r, 200));
      const state = await host.evaluate(() => ({ types: window.demo.localCandidateTypes, channel: window.demo.channel && window.demo.channel.readyState }));
      const refusals = (turn.output().match(refused) || []).length;
      log(`with a wrong TURN secret: local candidates ${JSON.stringify(state.types)}, channel ${state.channel}; coturn answered 401 ${refusals} times`);
      if (state.types.includes("relay")) throw new Error("a relay candidate was allocated with a wrong secret");
      if (state.channel === "open") throw new Error("the DataChannel opened although the TURN credential was wrong");
      if (refusals === 0) throw new Error("coturn's log shows no 401 for the credential");
      if (turn.output().includes("Cannot find credentials") === false) log("note: coturn gave no check_stun_auth detail");
      return;
    }

    await waitFor(host, () => window.demo.channel && window.demo.channel.readyState === "open", "host DataChannel");
    await waitFor(guest, () => window.demo.channel && window.demo.channel.readyState === "open", "guest DataChannel");
    const types = [await selectedCandidateType(host), await selectedCandidateType(guest)];
    log(`DataChannel open; selected local candidate types: host=${types[0]} guest=${types[1]}`);
    if (scenario === "relay" && !types.every((t) => t === "relay")) throw new Error(`expected relay candidates, got ${types}`);

    await host.fill("#chat-input", "hello from the host");
    await host.click("#chat-form button");
    await waitFor(guest, () => window.demo.chat.some((m) => m.text === "hello from the host"), "chat message");

    await host.setInputFiles("#file", file);
    await waitFor(host, () => !document.getElementById("send").disabled, "send button");
    const t0 = Date.now();
    await host.click("#send");
    await waitFor(guest, () => window.demo.received, "file", 120000);
    const received = await guest.evaluate(() => window.demo.received);
    log(`received ${received.size} bytes in ${Date.now() - t0} ms; sha256 ${received.sha256}; expected ${expected}`);
    if (received.sha256 !== expected || !received.ok || received.size !== 5 * 1024 * 1024)
      throw new Error("the received file differs from the sent one");
    if (screenshot) {
      await guest.screenshot({ path: screenshot, fullPage: true });
      log(`screenshot: ${screenshot}`);
    }
  } finally {
    await browser.close();
  }
}

run()
  .then(() => { log("PASS"); cleanup(0); })
  .catch((e) => { log("FAIL:", e.message); cleanup(1); });

function cleanup(code) {
  // SIGTERM, then wait for every child to exit (a drain takes a moment); any
  // still running after 10 s gets SIGKILL.
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  const exited = running.map((c) => new Promise((resolve) => c.once("exit", resolve)));
  for (const c of running) { try { c.kill("SIGTERM"); } catch (e) {} }
  let timer;
  const deadline = new Promise((resolve) => { timer = setTimeout(resolve, 10000); });
  Promise.race([Promise.all(exited), deadline]).then(() => {
    clearTimeout(timer);
    for (const c of running) { if (c.exitCode === null && c.signalCode === null) { try { c.kill("SIGKILL"); } catch (e) {} } }
    if (code === 0) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`[e2e ${scenario}] logs kept in ${tmp}`);
    process.exit(code);
  });
}
