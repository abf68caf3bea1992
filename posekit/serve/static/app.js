// posekit live page: webcam -> WebSocket /v1/stream -> skeletons on a canvas; video jobs.
// Plain ES module, no build step. The token (if the server has one) comes from ?token= in the
// page URL and is sent as "Authorization: Bearer" to REST routes and as ?token= where a header
// cannot be set (WebSocket, <video src>, download links).
//
// Counters for tests and curious users live on window.posekit (see `stats` below).

const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
const MAX_IN_FLIGHT = 2;          // frames sent but not yet answered (the server keeps the newest)
const JPEG_QUALITY = 0.8;
const MIN_VISIBILITY = 0.5;       // keypoints drawn at or above this visibility
const COLORS = { left: "rgb(255,140,0)", right: "rgb(0,120,255)", center: "rgb(200,200,200)" };
// Whole-body parts (hello.parts) and hands of the hands model: finger bones and face contours.
const PART_COLORS = { left_hand: "rgb(255,0,255)", right_hand: "rgb(0,255,255)",
  face: "rgb(255,255,0)" };
const MESH_POINTS = 100;          // skeletons with more keypoints (a face mesh) get no dots

const stats = window.posekit = {
  connected: false, hello: null,
  framesSent: 0, replies: 0, framesWithPerson: 0, framesDrawn: 0, personsDrawn: 0,
  edgesDrawn: 0, handsDrawn: 0, handEdgesDrawn: 0, facesDrawn: 0, faceEdgesDrawn: 0,
  lastPersons: 0, lastTrackIds: [], droppedByServer: 0, errors: [],
  fps: 0, medianLatencyMs: null, latenciesMs: [], lastServerMs: null, lastFrame: null, lastDrawn: null,
  lastJob: null, idsPerReply: [], events: [],
};

const $ = (id) => document.getElementById(id);

function withToken(path, extra = {}) {
  const u = new URL(path, location.href);
  if (token) u.searchParams.set("token", token);
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
  return u;
}

function authHeaders(h = {}) {
  return token ? { ...h, Authorization: `Bearer ${token}` } : h;
}

async function errorText(resp) {
  try {
    const body = await resp.json();
    return `${resp.status} ${body.error}: ${body.message}`;
  } catch {
    return `${resp.status} ${resp.statusText}`;
  }
}

function setStatus(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// ------------------------------------------------------------------------------- tabs
for (const tab of document.querySelectorAll("[role=tab]")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll("[role=tab]")) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      $(t.dataset.panel).hidden = !on;
    }
    if (tab.id === "tab-video") refreshJobs();
  });
}
// The API docs page never gets the token: its Authorize button asks for it.

// ------------------------------------------------------------------------------- live
const camera = $("camera");
const view = $("view");
const ctx = view.getContext("2d");
const grab = document.createElement("canvas");
const grabCtx = grab.getContext("2d");
let ws = null;
let media = null;
let running = false;
const pending = new Map();   // seq -> {t0, bitmap}
const replyTimes = [];       // performance.now() of recent replies, for frames/s

function sideOf(name) {
  if (name.startsWith("left_")) return "left";
  if (name.startsWith("right_")) return "right";
  return "center";
}

function colorForId(id) {
  const h = ((id * 0.618033988749895) % 1) * 360;
  return `hsl(${h.toFixed(0)}, 85%, 55%)`;
}

function median(a) {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function startLive() {
  const status = $("live-status");
  if (!navigator.mediaDevices?.getUserMedia) {
    setStatus(status, "This browser has no camera access here (it needs https or localhost).", true);
    return;
  }
  $("start").disabled = true;
  try {
    media = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
  } catch (e) {
    setStatus(status, `Camera refused: ${e.name}: ${e.message}`, true);
    stats.errors.push(`camera: ${e.name}`);
    $("start").disabled = false;
    return;
  }
  camera.srcObject = media;
  await camera.play();
  const analyze = $("analyze").value.replace(/\s+/g, "");
  const url = withToken("/v1/stream", analyze ? { analyze } : {});
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  let opened = false;
  ws.onopen = () => { opened = true; stats.connected = true; setStatus(status, "Connected."); };
  ws.onclose = (ev) => {
    stats.connected = false;
    if (!opened) {
      setStatus(status, "The server refused the stream (wrong token, unknown analysis name, " +
        "or too many streams open).", true);
    } else if (running) {
      setStatus(status, `Disconnected (${ev.code}${ev.reason ? ": " + ev.reason : ""}).`, ev.code !== 1000);
    }
    stopLive(false);
  };
  ws.onerror = () => stats.errors.push("websocket error");
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  running = true;
  $("stop").disabled = false;
  scheduleGrab();
}

function stopLive(closeSocket = true) {
  running = false;
  if (closeSocket && ws && ws.readyState <= 1) ws.close(1000);
  if (media) for (const t of media.getTracks()) t.stop();
  media = null;
  for (const p of pending.values()) p.bitmap?.close?.();
  pending.clear();
  $("start").disabled = false;
  $("stop").disabled = true;
}

function scheduleGrab() {
  if (!running) return;
  if (camera.requestVideoFrameCallback) camera.requestVideoFrameCallback(() => grabFrame());
  else requestAnimationFrame(() => grabFrame());
}

async function grabFrame() {
  try {
    if (!running || !ws || ws.readyState !== WebSocket.OPEN || !camera.videoWidth) return;
    const now = performance.now();
    for (const [seq, p] of pending) {           // forget frames the server never answered
      if (now - p.t0 > 5000) { p.bitmap?.close?.(); pending.delete(seq); }
    }
    if (pending.size >= MAX_IN_FLIGHT) return;
    const w = Math.min(Number($("send-width").value), camera.videoWidth);
    const h = Math.round(camera.videoHeight * w / camera.videoWidth);
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    grabCtx.drawImage(camera, 0, 0, w, h);
    const bitmap = await createImageBitmap(grab);
    const blob = await new Promise((res) => grab.toBlob(res, "image/jpeg", JPEG_QUALITY));
    if (!blob || !ws || ws.readyState !== WebSocket.OPEN) { bitmap.close(); return; }
    const seq = ++stats.framesSent;              // the server numbers frames 1, 2, 3... too
    pending.set(seq, { t0: performance.now(), bitmap });
    ws.send(blob);
  } catch (e) {
    stats.errors.push(`grab: ${e}`);
  } finally {
    scheduleGrab();
  }
}

function onMessage(msg) {
  if (msg.type === "hello") {
    stats.hello = msg;
    return;
  }
  if (msg.type === "error") {
    stats.errors.push(`${msg.error}: ${msg.message}`);
    setStatus($("live-status"), `Server: ${msg.message}`, true);
    if (msg.seq) releaseUpTo(msg.seq);
    return;
  }
  if (msg.type !== "frame") return;
  const p = pending.get(msg.seq);
  const now = performance.now();
  stats.replies += 1;
  stats.lastPersons = msg.persons.length;
  if (msg.persons.length > 0) stats.framesWithPerson += 1;
  stats.idsPerReply.push(msg.persons.map((q) => q.track_id));
  if (stats.idsPerReply.length > 1000) stats.idsPerReply.shift();
  stats.droppedByServer = msg.dropped_total;
  stats.lastServerMs = msg.timings.total * 1000;
  stats.lastTrackIds = msg.persons.map((q) => q.track_id);
  stats.lastFrame = msg;
  if (p) {
    stats.latenciesMs.push(now - p.t0);
    if (stats.latenciesMs.length > 60) stats.latenciesMs.shift();
    stats.medianLatencyMs = median(stats.latenciesMs);
    draw(p.bitmap, msg);
  }
  replyTimes.push(now);
  while (replyTimes.length && now - replyTimes[0] > 2000) replyTimes.shift();
  stats.fps = replyTimes.length > 1
    ? (replyTimes.length - 1) * 1000 / (replyTimes[replyTimes.length - 1] - replyTimes[0]) : 0;
  releaseUpTo(msg.seq);
  showStats();
  for (const ev of msg.events || []) showEvent(ev);
}

function describeEvent(ev) {
  const who = `#${ev.track_id}`;
  const t = `${Number(ev.time_s).toFixed(1)} s`;
  switch (ev.type) {
    case "rep": return `${t} ${who} ${ev.exercise} rep ${ev.rep}${ev.form_ok === false ? " (check form)" : ""}`;
    case "fall": return `${t} ${who} FALL${ev.confidence != null ? ` (confidence ${Number(ev.confidence).toFixed(2)})` : ""}`;
    case "gesture": return `${t} ${who} gesture ${ev.name}`;
    case "hand_gesture": return `${t} ${who} ${ev.side} hand ${ev.name === "finger_count" ? `${ev.count} fingers` : ev.name}`;
    case "hand_pose": return `${t} ${who} ${ev.side} hand pose ${ev.label}`;
    case "posture": return `${t} ${who} posture ${ev.name}${ev.duration_s != null ? ` for ${Number(ev.duration_s).toFixed(1)} s` : ""}`;
    default: return `${t} ${who} ${ev.type}`;
  }
}

function showEvent(ev) {
  stats.events.push(ev);
  const li = document.createElement("li");
  li.textContent = describeEvent(ev);
  const list = $("events");
  list.prepend(li);
  while (list.children.length > 8) list.lastChild.remove();
}

function releaseUpTo(seq) {
  for (const [s, p] of pending) {
    if (s <= seq) { p.bitmap?.close?.(); pending.delete(s); }
  }
}

function draw(bitmap, msg) {
  const [w, h] = msg.size_wh;
  if (view.width !== w || view.height !== h) { view.width = w; view.height = h; }
  ctx.drawImage(bitmap, 0, 0, w, h);
  const hello = stats.hello;
  if (!hello) return;
  // a whole-body skeleton: the body's own names and edges for person.keypoints, and the
  // other parts (hands, face) from the person's fields of the same names
  const parts = hello.parts || {};
  const body = parts.body || hello;
  const sides = body.keypoints.map(sideOf);
  const s = Math.max(1, Math.min(w, h) / 360);
  for (const person of msg.persons) {
    const kp = person.keypoints;
    const ok = kp.map(visible);
    ctx.lineWidth = 3 * s;
    ctx.lineCap = "round";
    // a hand of the hands model: finger bones in its side's colour; a face of the face
    // model: its mesh contours in the face colour, thin
    const handColor = person.handedness ? PART_COLORS[`${person.handedness}_hand`] : null;
    const mesh = kp.length > MESH_POINTS;
    const partColor = handColor || (mesh ? PART_COLORS.face : null);
    if (mesh) ctx.lineWidth = 1.2 * s;
    let edges = 0;
    for (const [a, b] of body.edges) {
      if (!ok[a] || !ok[b]) continue;
      ctx.strokeStyle = partColor || COLORS[sides[a] === sides[b] ? sides[a] : "center"];
      ctx.beginPath();
      ctx.moveTo(kp[a][0], kp[a][1]);
      ctx.lineTo(kp[b][0], kp[b][1]);
      ctx.stroke();
      edges += 1;
    }
    if (handColor) countPart("hand", edges);
    if (mesh) countPart("face", edges);
    if (!mesh) {
      for (let k = 0; k < kp.length; k++) {
        if (!ok[k]) continue;
        ctx.fillStyle = COLORS[sides[k]];
        ctx.beginPath();
        ctx.arc(kp[k][0], kp[k][1], 3.5 * s, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    for (const [name, part] of Object.entries(parts)) {
      if (name === "body" || !Array.isArray(person[name])) continue;
      const n = drawPart(person[name], part.edges, PART_COLORS[name] || COLORS.center,
        name === "face" ? 1.2 * s : 2 * s);
      countPart(name === "face" ? "face" : "hand", n);
    }
    const [x1, y1, x2, y2] = person.box;
    if (x1 !== null && y1 !== null) {
      const color = person.track_id !== null ? colorForId(person.track_id) : "rgb(0,255,0)";
      ctx.strokeStyle = color;
      ctx.lineWidth = 2 * s;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      const label = person.track_id !== null ? `#${person.track_id}` : `${person.index}`;
      ctx.font = `${Math.round(14 * s)}px system-ui, sans-serif`;
      const tw = ctx.measureText(label).width;
      ctx.fillStyle = color;
      ctx.fillRect(x1, Math.max(0, y1 - 18 * s), tw + 8 * s, 18 * s);
      ctx.fillStyle = "#000";
      ctx.fillText(label, x1 + 4 * s, Math.max(14 * s, y1 - 4 * s));
    }
    stats.edgesDrawn += edges;
    if (edges > 0) stats.personsDrawn += 1;
  }
  // heads-up display
  const lines = [`${stats.fps.toFixed(1)} frames/s`,
    stats.medianLatencyMs === null ? "" : `${stats.medianLatencyMs.toFixed(0)} ms round trip`,
    `${msg.persons.length} person${msg.persons.length === 1 ? "" : "s"}`].filter(Boolean);
  ctx.font = `${Math.round(13 * s)}px system-ui, sans-serif`;
  ctx.fillStyle = "rgba(0,0,0,0.55)";
  ctx.fillRect(0, 0, 170 * s, (lines.length * 17 + 8) * s);
  ctx.fillStyle = "#fff";
  lines.forEach((t, i) => ctx.fillText(t, 6 * s, (i + 1) * 17 * s));
  stats.framesDrawn += 1;
  stats.lastDrawn = msg;          // the reply on the canvas now (a late reply is not drawn)
}

// The page's counters of drawn hands and faces (window.posekit), for a part with n edges drawn.
function countPart(kind, n) {
  if (n <= 0) return;
  if (kind === "face") { stats.facesDrawn += 1; stats.faceEdgesDrawn += n; }
  else { stats.handsDrawn += 1; stats.handEdgesDrawn += n; }
}

function visible(k) {
  return k[0] !== null && k[1] !== null && k[2] !== null && k[2] >= MIN_VISIBILITY;
}

// The edges of one part (finger bones, face contours) of a person: [[x, y, score], ...];
// returns how many were drawn.
function drawPart(pts, edges, color, width) {
  const ok = pts.map(visible);
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.beginPath();
  let n = 0;
  for (const [a, b] of edges) {
    if (!ok[a] || !ok[b]) continue;
    ctx.moveTo(pts[a][0], pts[a][1]);
    ctx.lineTo(pts[b][0], pts[b][1]);
    n += 1;
  }
  ctx.stroke();
  return n;
}

function showStats() {
  $("stat-fps").textContent = stats.fps.toFixed(1);
  $("stat-latency").textContent = stats.medianLatencyMs === null ? "–" : `${stats.medianLatencyMs.toFixed(0)} ms`;
  $("stat-persons").textContent = String(stats.lastPersons);
  $("stat-ids").textContent = stats.lastTrackIds.filter((x) => x !== null).map((x) => `#${x}`).join(" ") || "–";
  $("stat-dropped").textContent = String(stats.droppedByServer);
  $("stat-server").textContent = stats.lastServerMs === null ? "–" : `${stats.lastServerMs.toFixed(0)} ms`;
}

$("start").addEventListener("click", startLive);
$("stop").addEventListener("click", () => { stopLive(); setStatus($("live-status"), "Camera off."); });

// ------------------------------------------------------------------------------ video
const jobStatus = $("job-status");
let pollTimer = null;

$("upload-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("file").files[0];
  if (!file) { setStatus(jobStatus, "Choose a video file first.", true); return; }
  $("upload").disabled = true;
  $("result").hidden = true;
  setStatus(jobStatus, `Uploading ${file.name} (${(file.size / 1e6).toFixed(1)} MB)…`);
  try {
    const resp = await fetch(withToken("/v1/jobs"), {
      method: "POST", body: file,
      headers: authHeaders({ "Content-Type": file.type || "application/octet-stream",
        "X-Filename": encodeURIComponent(file.name).slice(0, 200) }),
    });
    if (!resp.ok) { setStatus(jobStatus, await errorText(resp), true); return; }
    const job = await resp.json();
    window.posekit.lastJob = job;
    watchJob(job.id);
  } catch (e) {
    setStatus(jobStatus, `Upload failed: ${e}`, true);
  } finally {
    $("upload").disabled = false;
  }
});

function watchJob(id) {
  clearTimeout(pollTimer);
  const bar = $("job-progress");
  bar.hidden = false;
  const poll = async () => {
    const resp = await fetch(withToken(`/v1/jobs/${id}`), { headers: authHeaders() });
    if (!resp.ok) { setStatus(jobStatus, await errorText(resp), true); return; }
    const job = await resp.json();
    window.posekit.lastJob = job;
    const total = job.frames_total ? ` / ${job.frames_total}` : "";
    if (job.progress !== null) bar.value = job.progress; else bar.removeAttribute("value");
    if (job.state === "queued" || job.state === "running") {
      setStatus(jobStatus, `${job.state}: ${job.frames_done}${total} frames, ${job.fps.toFixed(1)} frames/s`);
      pollTimer = setTimeout(poll, 500);
      return;
    }
    refreshJobs();
    if (job.state === "done") {
      setStatus(jobStatus, `Done: ${job.frames_done} frames at ${job.fps.toFixed(1)} frames/s.`);
      showResult(job);
    } else if (job.state === "partial") {
      setStatus(jobStatus, `Partial: ${job.frames_done}${total} frames (${job.error || ""}).`, true);
      showResult(job);
    } else {
      setStatus(jobStatus, `${job.state}: ${job.error || ""}`, true);
    }
  };
  poll();
}

function showResult(job) {
  const v = $("result-video");
  v.src = withToken(job.urls.video).toString();
  $("result-jsonl").href = withToken(job.urls.jsonl).toString();
  $("result").hidden = false;
}

async function refreshJobs() {
  const resp = await fetch(withToken("/v1/jobs"), { headers: authHeaders() });
  const tbody = $("jobs").querySelector("tbody");
  if (!resp.ok) { setStatus(jobStatus, await errorText(resp), true); return; }
  const jobs = await resp.json();
  tbody.replaceChildren(...jobs.reverse().map((job) => {
    const tr = document.createElement("tr");
    const cells = [job.filename, job.state + (job.error ? ` (${job.error})` : ""),
      `${job.frames_done}${job.frames_total ? " / " + job.frames_total : ""}`, job.fps.toFixed(1)];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    const act = document.createElement("td");
    if (job.state === "done" || job.state === "partial") {
      const a = document.createElement("a");
      a.href = "#"; a.textContent = "play";
      a.addEventListener("click", (e) => { e.preventDefault(); showResult(job); });
      act.append(a, " ");
    }
    const del = document.createElement("a");
    del.href = "#"; del.textContent = "delete";
    del.addEventListener("click", async (e) => {
      e.preventDefault();
      await fetch(withToken(`/v1/jobs/${job.id}`), { method: "DELETE", headers: authHeaders() });
      refreshJobs();
    });
    act.append(del);
    tr.append(act);
    return tr;
  }));
}

if (params.get("analyze")) $("analyze").value = params.get("analyze");
if (params.get("autostart") === "1") startLive();
