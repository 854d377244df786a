"use strict";
// The demo client, and the reference for frontend authors: it uses only the
// messages of docs/protocol.md. The server introduces the peers; the file goes
// over a WebRTC DataChannel, checked with SHA-256 on arrival.
//
// URL parameters: ?server=ws://host:port/ (default: this page's origin),
// ?relay=1 forces TURN (iceTransportPolicy "relay").

const params = new URLSearchParams(location.search);
const wsUrl = params.get("server") || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
const httpBase = wsUrl.replace(/^ws/, "http").replace(/\/$/, "");
const forceRelay = params.get("relay") === "1";
const CHUNK = 16 * 1024;
const HIGH_WATER = 1024 * 1024;

// Everything the page knows; the browser tests read it as window.demo.
const demo = {
  roomId: null, role: null, resumeToken: null, ws: null, pc: null, channel: null, iceServers: [], resumes: 0,
  queuedCandidates: [], localCandidateTypes: [], incoming: null, received: null, sent: null, errors: [], chat: [],
};
window.demo = demo;

const $ = (id) => document.getElementById(id);
const show = (id, on) => { $(id).hidden = !on; };
const status = (text) => { $("status").textContent = text || ""; };

async function loadIceServers() {
  try {
    const res = await fetch(`${httpBase}/api/ice-servers`);
    demo.iceServers = (await res.json()).iceServers || [];
  } catch (e) {
    demo.iceServers = [];
  }
}

function connect() {
  if (demo.ws && demo.ws.readyState <= WebSocket.OPEN) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const ws = open();
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("cannot reach the signaling server"));
  });
}

// A WebSocket to the server. When it is lost (not closed by a leave: 1000 or
// 1001) while in a room, the seat is resumed on a new one, through the load
// balancer to any node (docs/protocol.md, "Seats and resume").
function open() {
  const ws = new WebSocket(wsUrl);
  demo.ws = ws;
  ws.onmessage = (e) => onServerMessage(JSON.parse(e.data));
  ws.onclose = (e) => {
    if (ws !== demo.ws) return;
    if (demo.roomId && demo.resumeToken && e.code !== 1000 && e.code !== 1001 && demo.resumes < 10) {
      demo.resumes += 1;
      status(`Connection lost (${e.code}); getting back into the room…`);
      setTimeout(() => {
        const again = open();
        again.onopen = () => send({ type: "resume", roomId: demo.roomId, resumeToken: demo.resumeToken });
      }, demo.resumes === 1 ? 100 : 1000);
      return;
    }
    if (demo.roomId) status(`Disconnected from the server (${e.code}${e.reason ? " " + e.reason : ""}).`);
    resetRoom();
  };
  return ws;
}

function send(msg) {
  if (demo.ws && demo.ws.readyState === WebSocket.OPEN) demo.ws.send(JSON.stringify(msg));
}

function onServerMessage(msg) {
  switch (msg.type) {
    case "room-created":
      demo.roomId = msg.roomId; demo.role = "host"; demo.resumeToken = msg.resumeToken || null;
      enterRoom();
      break;
    case "peer-joined":
      if (!demo.role) { demo.role = "guest"; demo.roomId = msg.roomId; demo.resumeToken = msg.resumeToken || null; enterRoom(); }
      $("peer-state").textContent = "connected to the server";
      startPeer(demo.role === "host");
      break;
    case "signal": onSignal(msg); break;
    case "chat-message": addChat(msg.sender || "peer", msg.message, false); break;
    case "peer-left":
      status("Your peer left; the room is closed.");
      resetRoom();
      break;
    case "room-left": resetRoom(); break;
    // Seat resume: the peer's connection dropped and came back, or ours did.
    case "peer-disconnected": $("peer-state").textContent = "peer lost its connection; waiting for it…"; break;
    case "peer-resumed": $("peer-state").textContent = "connected to the server"; break;
    case "resumed":
      demo.resumeToken = msg.resumeToken; demo.resumes = 0;
      $("peer-state").textContent = msg.peerConnected ? "connected to the server" : "peer lost its connection; waiting for it…";
      status("");
      break;
    case "error":
      demo.errors.push(msg);
      status(`${msg.message} (${msg.code})`);
      if (msg.code === "room-unavailable" && demo.roomId && demo.resumes > 0) resetRoom(); // too late to resume
      break;
  }
}

function enterRoom() {
  $("room-code").textContent = demo.roomId;
  show("lobby", false); show("room", true); show("chat", true); show("transfer", true);
  status("");
}

function resetRoom() {
  if (demo.pc) demo.pc.close();
  Object.assign(demo, { roomId: null, role: null, resumeToken: null, resumes: 0, pc: null, channel: null, queuedCandidates: [], incoming: null });
  show("lobby", true); show("room", false); show("chat", false); show("transfer", false);
  $("peer-state").textContent = "waiting for a peer…";
  $("link-state").textContent = "—";
  $("send").disabled = true;
}

// -- WebRTC ------------------------------------------------------------------

function startPeer(isOfferer) {
  const pc = new RTCPeerConnection({ iceServers: demo.iceServers, iceTransportPolicy: forceRelay ? "relay" : "all" });
  demo.pc = pc;
  pc.onicecandidate = (e) => {
    if (!e.candidate) return;
    demo.localCandidateTypes.push(e.candidate.type);
    send({ type: "signal", roomId: demo.roomId, candidate: e.candidate });
  };
  pc.onconnectionstatechange = () => { $("link-state").textContent = pc.connectionState; };
  if (isOfferer) {
    attachChannel(pc.createDataChannel("file", { ordered: true }));
    pc.createOffer()
      .then((offer) => pc.setLocalDescription(offer))
      .then(() => send({ type: "signal", roomId: demo.roomId, sdp: pc.localDescription }));
  } else {
    pc.ondatachannel = (e) => attachChannel(e.channel);
  }
}

async function onSignal(msg) {
  const pc = demo.pc;
  if (!pc) return;
  if (msg.sdp) {
    await pc.setRemoteDescription(msg.sdp);
    if (msg.sdp.type === "offer") {
      await pc.setLocalDescription(await pc.createAnswer());
      send({ type: "signal", roomId: demo.roomId, sdp: pc.localDescription });
    }
    for (const c of demo.queuedCandidates.splice(0)) await pc.addIceCandidate(c);
  }
  if (msg.candidate) {
    if (pc.remoteDescription) await pc.addIceCandidate(msg.candidate);
    else demo.queuedCandidates.push(msg.candidate); // trickled ahead of the description
  }
}

function attachChannel(channel) {
  channel.binaryType = "arraybuffer";
  channel.bufferedAmountLowThreshold = HIGH_WATER / 4;
  demo.channel = channel;
  channel.onopen = () => {
    $("peer-state").textContent = "connected peer to peer";
    $("send").disabled = !$("file").files.length;
  };
  channel.onclose = () => { $("send").disabled = true; };
  channel.onmessage = (e) => onChannelMessage(e.data);
}

// -- file transfer -----------------------------------------------------------

async function sha256(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sendFile(file) {
  const channel = demo.channel;
  const data = await file.arrayBuffer();
  const hash = await sha256(data);
  channel.send(JSON.stringify({ kind: "file", name: file.name, size: data.byteLength, sha256: hash }));
  for (let offset = 0; offset < data.byteLength; offset += CHUNK) {
    if (channel.bufferedAmount > HIGH_WATER)
      await new Promise((resolve) => { channel.onbufferedamountlow = () => resolve(); });
    channel.send(data.slice(offset, offset + CHUNK));
    progress(Math.min(offset + CHUNK, data.byteLength), data.byteLength);
  }
  demo.sent = { name: file.name, size: data.byteLength, sha256: hash };
  $("transfer-state").textContent = `Sent ${file.name} (${data.byteLength} bytes).`;
}

async function onChannelMessage(data) {
  if (typeof data === "string") {
    const header = JSON.parse(data);
    demo.incoming = { ...header, chunks: [], bytes: 0 };
    $("transfer-state").textContent = `Receiving ${header.name}…`;
    return;
  }
  const inc = demo.incoming;
  if (!inc) return;
  inc.chunks.push(data);
  inc.bytes += data.byteLength;
  progress(inc.bytes, inc.size);
  if (inc.bytes < inc.size) return;
  demo.incoming = null;
  const blob = new Blob(inc.chunks);
  const hash = await sha256(await blob.arrayBuffer());
  demo.received = { name: inc.name, size: inc.bytes, sha256: hash, ok: hash === inc.sha256 };
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = inc.name;
  link.textContent = inc.name;
  const line = $("transfer-state");
  line.textContent = "";
  line.append("Received ", link, ` (${inc.bytes} bytes): `);
  const verdict = document.createElement("span");
  verdict.className = demo.received.ok ? "ok" : "";
  verdict.textContent = demo.received.ok ? "SHA-256 verified ✓" : "SHA-256 mismatch ✗";
  line.append(verdict);
}

function progress(done, total) {
  $("progress").max = total;
  $("progress").value = done;
}

// -- chat ----------------------------------------------------------------------

function addChat(sender, text, mine) {
  demo.chat.push({ sender, text, mine });
  const li = document.createElement("li");
  li.className = mine ? "me" : "";
  li.textContent = `${mine ? "you" : sender}: ${text}`;
  $("messages").append(li);
}

// -- wiring --------------------------------------------------------------------

$("create").onclick = async () => {
  try { await connect(); send({ type: "create-room" }); } catch (e) { status(e.message); }
};
$("join-form").onsubmit = async (e) => {
  e.preventDefault();
  const roomId = $("code").value.trim();
  if (!/^\d{4,18}$/.test(roomId)) return status("Enter the room code you were given.");
  try { await connect(); send({ type: "join-room", roomId }); } catch (err) { status(err.message); }
};
$("leave").onclick = () => send({ type: "leave-room", roomId: demo.roomId });
$("file").onchange = () => { $("send").disabled = !($("file").files.length && demo.channel && demo.channel.readyState === "open"); };
$("send").onclick = () => { const f = $("file").files[0]; if (f) sendFile(f); };
$("chat-form").onsubmit = (e) => {
  e.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text || !demo.roomId) return;
  send({ type: "chat-message", roomId: demo.roomId, message: text, sender: "peer", timestamp: new Date().toISOString() });
  addChat("you", text, true);
  $("chat-input").value = "";
};
loadIceServers();
