// The page: sign-in, the uploader, and the library kept up to date by the one event stream.

import { TusUpload } from "./tus.js";
import { forget, forgetUser, remember, remembered } from "./resume.js";

const CHUNK_BYTES = 8 * 1024 * 1024;
const AT_ONCE = 3;
const PAGE_SIZE = 48;
const TOKEN_KEY = "tusmedia.token";
const EVENT_NAMES = ["created", "received", "queued", "started", "retried", "ready", "failed", "deleted"];

const $ = (id) => document.getElementById(id);
const endpoint = document.body.dataset.tusEndpoint;
let me = null;
let token = null;

// --- talking to the API --------------------------------------------------------------------------------------

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { Authorization: `Bearer ${token}`, ...(init.headers || {}) } });
  if (!response.ok) throw new Error((await response.text()).trim() || `${path} answered ${response.status}`);
  return response.status === 204 ? null : response.json();
}

function announce(text) {
  $("announcer").textContent = text;
}

function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s left`;
}

// --- signing in and out --------------------------------------------------------------------------------------

async function signIn(candidate) {
  token = candidate;
  me = await api("/api/me");
  sessionStorage.setItem(TOKEN_KEY, token);
  $("sign-in").hidden = true;
  for (const id of ["uploader", "library", "who", "sign-out"]) $(id).hidden = false;
  $("who").textContent = `Signed in as ${me.user}${me.is_admin ? " (admin)" : ""}`;
  showLimits();
  await library.reload();
  library.listen();
}

function signOut() {
  queue.cancelAll();
  library.stop();
  if (me) forgetUser(me.user);
  sessionStorage.removeItem(TOKEN_KEY);
  window.location.reload();
}

function showLimits() {
  const quota = me.quota || {};
  const parts = [];
  const limits = me.limits || {};
  if (limits.max_file_size) parts.push(`up to ${formatBytes(limits.max_file_size)} a file`);
  if (limits.allowed_types?.length) parts.push(`processed: ${limits.allowed_types.join(", ")}`);
  if (!quota.exempt && quota.bytes_left != null) parts.push(`${formatBytes(quota.bytes_left)} of your quota left`);
  $("limits").textContent = parts.join("; ");
}

// --- the uploader ----------------------------------------------------------------------------------------------

class QueuedFile {
  constructor(file) {
    this.file = file;
    this.element = document.createElement("li");
    this.element.className = "queued";
    this.element.innerHTML = `
      <span class="name"></span>
      <progress max="100" value="0"></progress>
      <span class="percent">0 %</span>
      <span class="detail"></span>
      <span class="actions">
        <button type="button" class="pause">Pause</button>
        <button type="button" class="cancel">Cancel</button>
      </span>`;
    this.element.querySelector(".name").textContent = file.name;
    const progress = this.element.querySelector("progress");
    progress.setAttribute("aria-label", `${file.name} uploaded`);
    this.element.querySelector(".pause").addEventListener("click", () => this.togglePause());
    this.element.querySelector(".cancel").addEventListener("click", () => this.cancel());
    this.sent = 0;
    this.speed = 0; // bytes per second, smoothed
    this.lastSample = null;
    this.state = "waiting";
    this.upload = new TusUpload(file, {
      endpoint,
      token,
      chunkSize: CHUNK_BYTES,
      url: remembered(me.user, file),
      onUrl: (url) => remember(me.user, file, url),
      onProgress: (sent, total) => this.progress(sent, total),
      onRetry: (delay, reason) => this.detail(`retrying in ${Math.round(delay / 1000)} s: ${reason}`),
    });
  }

  detail(text) {
    this.element.querySelector(".detail").textContent = text;
  }

  progress(sent, total) {
    const now = performance.now();
    if (this.lastSample && now > this.lastSample.at) {
      const instant = ((sent - this.lastSample.sent) * 1000) / (now - this.lastSample.at);
      this.speed = this.speed ? 0.8 * this.speed + 0.2 * instant : instant; // smoothed: no jumping figures
    }
    this.lastSample = { at: now, sent };
    this.sent = sent;
    const percent = total ? Math.floor((sent * 100) / total) : 100;
    this.element.querySelector("progress").value = percent;
    this.element.querySelector(".percent").textContent = `${percent} %`;
    if (sent < total && this.speed > 0) {
      this.detail(`${formatBytes(this.speed)}/s, ${formatSeconds((total - sent) / this.speed)}`);
    }
    queue.showOverall();
  }

  async run() {
    this.state = "uploading";
    this.detail("starting");
    try {
      const finished = await this.upload.start();
      if (!finished) return;
      this.state = "done";
      forget(me.user, this.file);
      this.progress(this.file.size, this.file.size);
      this.detail("uploaded");
      this.element.querySelector(".actions").remove();
      announce(`${this.file.name} uploaded`);
    } catch (error) {
      this.state = "failed";
      this.detail(`failed: ${error.message}`);
      announce(`${this.file.name} failed: ${error.message}`);
    }
  }

  togglePause() {
    const button = this.element.querySelector(".pause");
    if (this.state === "uploading") {
      this.upload.pause();
      this.state = "paused";
      button.textContent = "Resume";
      this.detail("paused");
    } else if (this.state === "paused") {
      button.textContent = "Pause";
      queue.resume(this);
    }
  }

  async cancel() {
    this.state = "cancelled";
    await this.upload.cancel();
    forget(me.user, this.file);
    this.element.remove();
    queue.remove(this);
  }
}

const queue = {
  files: [],
  running: 0,

  add(fileList) {
    for (const file of fileList) {
      const limit = me.limits?.max_file_size;
      if (limit && file.size > limit) {
        announce(`${file.name} is larger than ${formatBytes(limit)}, the most a file may be`);
        continue;
      }
      const queued = new QueuedFile(file);
      this.files.push(queued);
      $("queue").append(queued.element);
    }
    this.pump();
  },

  pump() {
    for (const queued of this.files) {
      if (this.running >= AT_ONCE) break;
      if (queued.state !== "waiting") continue;
      this.running += 1;
      queued.run().finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
    this.showOverall();
  },

  resume(queued) {
    queued.state = "waiting";
    this.pump();
  },

  remove(queued) {
    this.files = this.files.filter((other) => other !== queued);
    this.showOverall();
  },

  cancelAll() {
    for (const queued of this.files) queued.upload.pause();
  },

  showOverall() {
    const total = this.files.reduce((sum, queued) => sum + queued.file.size, 0);
    const sent = this.files.reduce((sum, queued) => sum + queued.sent, 0);
    $("overall").hidden = this.files.length === 0;
    const percent = total ? Math.floor((sent * 100) / total) : 100;
    $("overall-progress").value = percent;
    $("overall-text").textContent = `${percent} % of ${formatBytes(total)}`;
  },
};

// --- the library -------------------------------------------------------------------------------------------------

const library = {
  cards: new Map(),
  next: null,
  events: null,
  lastEventId: null,

  async reload() {
    this.cards.clear();
    $("assets").replaceChildren();
    await this.loadPage(`/api/assets?limit=${PAGE_SIZE}`);
  },

  async loadPage(url) {
    const page = await api(url);
    for (const asset of page.items) this.show(asset, false);
    this.next = page.next;
    $("load-more").hidden = !this.next;
  },

  show(asset, atTop = true) {
    let card = this.cards.get(asset.id);
    if (!card) {
      card = document.createElement("li");
      card.className = "asset";
      this.cards.set(asset.id, card);
      if (atTop) $("assets").prepend(card);
      else $("assets").append(card);
    }
    const thumbnail = Object.entries(asset.derivatives || {}).find(([name]) => name.startsWith("thumb_256"));
    card.dataset.status = asset.status;
    card.replaceChildren();
    const figure = document.createElement("div");
    figure.className = "thumbnail";
    if (thumbnail) {
      const image = document.createElement("img");
      image.src = thumbnail[1];
      image.alt = asset.filename || asset.id;
      image.loading = "lazy";
      figure.append(image);
    }
    const name = document.createElement("p");
    name.className = "filename";
    name.textContent = asset.filename || asset.id;
    const badge = document.createElement("p");
    badge.className = `badge ${asset.status}`;
    badge.textContent = asset.status;
    card.append(figure, name, badge);
    if (me.is_admin && asset.owner) {
      const owner = document.createElement("p");
      owner.className = "owner";
      owner.textContent = asset.owner;
      card.append(owner);
    }
    if (asset.status === "failed" && asset.error) {
      const reason = document.createElement("p");
      reason.className = "reason";
      reason.textContent = asset.error;
      card.append(reason);
    }
  },

  async refresh(assetId, eventName) {
    if (eventName === "deleted") {
      this.cards.get(assetId)?.remove();
      this.cards.delete(assetId);
      return;
    }
    try {
      const asset = await api(`/api/assets/${encodeURIComponent(assetId)}`);
      const known = this.cards.get(assetId)?.dataset.status;
      this.show(asset);
      if (known !== asset.status && (asset.status === "ready" || asset.status === "failed")) {
        announce(`${asset.filename || asset.id} is ${asset.status}${asset.error ? `: ${asset.error}` : ""}`);
      }
    } catch {
      // gone meanwhile, or the token was revoked: the next event or a reload tells
    }
  },

  // One stream for the whole library, through a signed link (an EventSource cannot send a header).
  async listen() {
    this.stop();
    const query = this.lastEventId == null ? "" : `?last_event_id=${this.lastEventId}`;
    const { url } = await api("/api/events/link");
    const events = new EventSource(url + (query ? (url.includes("?") ? "&" : "?") + query.slice(1) : ""));
    this.events = events;
    for (const name of EVENT_NAMES) {
      events.addEventListener(name, (message) => {
        this.lastEventId = message.lastEventId;
        const data = JSON.parse(message.data);
        this.refresh(data.asset_id, name);
      });
    }
    events.onerror = () => {
      // The browser reconnects by itself; once the link has run out it gives up, and a new one is needed.
      if (events.readyState === EventSource.CLOSED && this.events === events) setTimeout(() => this.listen(), 1000);
    };
  },

  stop() {
    this.events?.close();
    this.events = null;
  },
};

// --- wiring ----------------------------------------------------------------------------------------------------

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("sign-in-error").textContent = "";
  try {
    await signIn($("token").value.trim());
  } catch (error) {
    token = null;
    $("sign-in-error").textContent = `Could not sign in: ${error.message}`;
  }
});
$("sign-out").addEventListener("click", signOut);
$("files").addEventListener("change", (event) => {
  queue.add(event.target.files);
  event.target.value = "";
});
$("load-more").addEventListener("click", () => library.next && library.loadPage(library.next));

const dropZone = $("drop-zone");
dropZone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropZone.classList.add("over");
});
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("over");
  queue.add(event.dataTransfer.files);
});

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved).catch(() => sessionStorage.removeItem(TOKEN_KEY));
