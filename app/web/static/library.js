// The library: the user's assets (an admin's: everyone's), filtered and searched by the API, paged
// with its cursor, kept current by one event stream, and a detail panel for one asset.

import { $, announce, api, element, formatBytes, session } from "./api.js";

const PAGE_SIZE = 48;
const EVENT_NAMES = ["created", "received", "queued", "started", "retried", "ready", "failed", "deleted"];
const FINAL = new Set(["ready", "failed"]);
const DETAIL_FIELDS = [
  ["camera_make", "Camera make"], ["camera_model", "Camera model"], ["lens", "Lens"],
  ["taken_at", "Taken"], ["orientation", "Orientation"], ["mode", "Colour mode"], ["frames", "Frames"],
  ["codec", "Codec"], ["audio_codec", "Audio codec"], ["bit_rate", "Bit rate"], ["size", "Size"],
];

function thumbnailOf(asset) {
  const entries = Object.entries(asset.derivatives || {});
  return (entries.find(([name]) => name.startsWith("thumb_256")) || entries.find(([name]) => name.startsWith("thumb_")))?.[1];
}

function describe(asset) {
  const parts = [asset.detected_type || asset.declared_type || "", formatBytes(asset.length || asset.offset || 0)];
  if (asset.width && asset.height) parts.push(`${asset.width} × ${asset.height}`);
  if (asset.duration_seconds) parts.push(`${asset.duration_seconds.toFixed(1)} s`);
  return parts.filter(Boolean).join(" · ");
}

export const library = {
  cards: new Map(),
  total: 0,
  next: null,
  events: null,
  lastEventId: null,
  onChange: () => {},

  query() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    const status = $("filter-status").value;
    const type = $("filter-type").value;
    const search = $("filter-search").value.trim();
    if (status) params.set("status", status);
    if (type) params.set("type", type);
    if (search) params.set("q", search);
    return `/api/assets?${params}`;
  },

  async reload() {
    this.cards.clear();
    $("assets").replaceChildren();
    await this.loadPage(this.query());
  },

  async loadPage(url) {
    const page = await api(url);
    for (const asset of page.items) this.show(asset, false);
    this.next = page.next;
    $("load-more").hidden = !this.next;
    this.total = page.total;
    this.showCount();
  },

  showCount() {
    $("library-count").textContent = `${this.total} asset${this.total === 1 ? "" : "s"}`;
  },

  matches(asset) {
    const status = $("filter-status").value;
    const type = $("filter-type").value;
    const search = $("filter-search").value.trim().toLowerCase();
    if (status && asset.status !== status) return false;
    if (type && !(asset.detected_type || "").startsWith(type.replace("*", ""))) return false;
    return !search || (asset.filename || "").toLowerCase().includes(search);
  },

  show(asset, atTop = true) {
    let card = this.cards.get(asset.id);
    if (!card) {
      card = element("li", "asset");
      this.cards.set(asset.id, card);
      if (atTop) $("assets").prepend(card);
      else $("assets").append(card);
    }
    card.dataset.status = asset.status;
    const open = element("button", "open");
    open.type = "button";
    open.setAttribute("aria-label", `Details of ${asset.filename || asset.id}, ${asset.status}`);
    open.addEventListener("click", () => detail.open(asset.id, open));
    const figure = element("div", "thumbnail");
    const thumbnail = thumbnailOf(asset);
    if (thumbnail) {
      const image = element("img");
      image.src = thumbnail;
      image.alt = asset.filename || asset.id;
      image.loading = "lazy";
      figure.append(image);
    }
    open.append(figure);
    const parts = [
      open,
      element("p", "filename", asset.filename || asset.id),
      element("p", "facts-line", describe(asset)),
      element("p", `badge ${asset.status}`, asset.status),
    ];
    if (session.me.is_admin && asset.owner) parts.push(element("p", "owner", asset.owner));
    if (asset.status === "failed" && asset.error) parts.push(element("p", "reason", asset.error));
    card.replaceChildren(...parts);
  },

  deleted: new Set(), // ids whose "deleted" event arrived (upload ids are never reused)

  remove(assetId) {
    if (!this.cards.has(assetId)) return;
    this.cards.get(assetId).remove();
    this.cards.delete(assetId);
    this.total -= 1;
    this.showCount();
  },

  // Several events of one asset in a burst (received, queued, started, ready) cost one fetch in flight
  // and at most one more after it, not one each.
  inFlight: new Set(),
  again: new Set(),

  async refresh(assetId, eventName) {
    if (eventName === "deleted") {
      this.deleted.add(assetId); // a fetch still in flight must not bring its card back
      this.remove(assetId);
      this.onChange();
      return;
    }
    if (this.inFlight.has(assetId)) {
      this.again.add(assetId);
      return;
    }
    this.inFlight.add(assetId);
    try {
      await this.fetchAndShow(assetId);
    } finally {
      this.inFlight.delete(assetId);
    }
    if (this.again.delete(assetId)) await this.refresh(assetId, "again");
  },

  async fetchAndShow(assetId) {
    let asset;
    try {
      asset = await api(`/api/assets/${encodeURIComponent(assetId)}`);
    } catch {
      return; // gone meanwhile: its "deleted" event follows
    }
    if (!this.cards.has(assetId) && this.deleted.has(assetId)) return;
    const known = this.cards.get(assetId)?.dataset.status;
    if (this.matches(asset)) {
      if (!this.cards.has(assetId)) {
        this.total += 1;
        this.showCount();
      }
      this.show(asset);
    } else {
      this.remove(assetId);
    }
    if (known !== asset.status && FINAL.has(asset.status)) {
      announce(`${asset.filename || asset.id} is ${asset.status}${asset.error ? `: ${asset.error}` : ""}`);
    }
    if (detail.assetId === assetId) detail.render(asset);
    this.onChange();
  },

  // The stream's position first, then the list, then the stream from that position: an asset that
  // changes in between is in the list or in the stream, never in neither.
  async start() {
    const link = await api("/api/events/link");
    this.lastEventId = link.last_event_id;
    await this.reload();
    await this.listen(link);
  },

  // One stream for the whole library, through a signed link (an EventSource cannot send a header);
  // a new link is asked for unless the caller has a fresh one.
  async listen(link = null) {
    this.stop();
    let { url } = link ?? (await api("/api/events/link"));
    if (this.lastEventId != null) url += `${url.includes("?") ? "&" : "?"}last_event_id=${this.lastEventId}`;
    const events = new EventSource(url);
    this.events = events;
    for (const name of EVENT_NAMES) {
      events.addEventListener(name, (message) => {
        this.lastEventId = message.lastEventId;
        this.refresh(JSON.parse(message.data).asset_id, name);
      });
    }
    events.onerror = () => {
      // The browser reconnects by itself; once the signed link has run out it gives up: ask for a new one.
      if (events.readyState === EventSource.CLOSED && this.events === events) setTimeout(() => this.listen(), 1000);
    };
  },

  stop() {
    this.events?.close();
    this.events = null;
  },
};

export const detail = {
  assetId: null,
  opener: null,

  async open(assetId, opener) {
    this.assetId = assetId;
    this.opener = opener;
    const asset = await api(`/api/assets/${encodeURIComponent(assetId)}`);
    this.render(asset);
    const dialog = $("detail");
    if (!dialog.open) dialog.showModal();
  },

  render(asset) {
    const body = $("detail-body");
    $("detail-title").textContent = asset.filename || asset.id;
    const facts = element("dl", "facts");
    const fact = (term, value) => {
      if (value == null || value === "") return;
      facts.append(element("dt", null, term), element("dd", null, String(value)));
    };
    fact("Status", asset.status);
    fact("Reason", asset.error);
    fact("Type", asset.detected_type || asset.declared_type);
    fact("Size", formatBytes(asset.length || asset.offset || 0));
    if (asset.width && asset.height) fact("Dimensions", `${asset.width} × ${asset.height}`);
    if (asset.duration_seconds) fact("Duration", `${asset.duration_seconds.toFixed(1)} s`);
    if (session.me.is_admin) fact("Owner", asset.owner);
    for (const [key, label] of DETAIL_FIELDS) fact(label, asset.details?.[key]);
    fact("Uploaded", asset.completed_at && new Date(asset.completed_at).toLocaleString());
    const parts = [facts];
    const thumbnail = Object.entries(asset.derivatives || {}).find(([name]) => name.startsWith("thumb_1024")) || null;
    if (thumbnail) {
      const image = element("img", "preview");
      image.src = thumbnail[1];
      image.alt = `Preview of ${asset.filename || asset.id}`;
      parts.unshift(image);
    }
    const derivatives = Object.entries(asset.derivatives || {});
    if (derivatives.length) {
      parts.push(element("h3", null, "Derivatives"));
      const list = element("ul", "derivatives");
      for (const [name, url] of derivatives) {
        const item = element("li");
        const link = element("a", null, name);
        link.href = url;
        item.append(link);
        list.append(item);
      }
      parts.push(list);
    }
    parts.push(element("h3", null, "History"));
    const history = element("ol", "history");
    for (const event of asset.events || []) {
      history.append(element("li", null, `${new Date(event.at).toLocaleTimeString()} ${event.event}${event.detail ? `: ${event.detail}` : ""}`));
    }
    parts.push(history);
    const actions = element("p", "detail-actions");
    if (asset.download_url) {
      const download = element("a", "download", "Download the original");
      download.href = asset.download_url;
      download.setAttribute("download", asset.filename || asset.id);
      actions.append(download);
    }
    if (session.me.is_admin && FINAL.has(asset.status)) actions.append(this.button("Reprocess", () => this.reprocess(asset)));
    actions.append(this.button("Delete", () => this.remove(asset)));
    parts.push(actions);
    body.replaceChildren(...parts);
  },

  button(text, action) {
    const button = element("button", null, text);
    button.type = "button";
    button.addEventListener("click", action);
    return button;
  },

  async reprocess(asset) {
    await api(`/api/assets/${encodeURIComponent(asset.id)}/reprocess`, { method: "POST" });
    announce(`${asset.filename || asset.id} queued for processing again`);
  },

  async remove(asset) {
    if (!window.confirm(`Delete ${asset.filename || asset.id}?`)) return;
    await api(`/api/assets/${encodeURIComponent(asset.id)}`, { method: "DELETE" });
    $("detail").close();
    announce(`${asset.filename || asset.id} deleted`);
  },

  close() {
    this.assetId = null;
    this.opener?.focus();
  },
};

export function setUpLibrary() {
  let searchTimer = null;
  const reload = () => library.reload().catch((error) => announce(`Could not load the library: ${error.message}`));
  $("filter-status").addEventListener("change", reload);
  $("filter-type").addEventListener("change", reload);
  $("filter-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(reload, 250);
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    reload();
  });
  $("load-more").addEventListener("click", () => library.next && library.loadPage(library.next));
  $("detail").addEventListener("close", () => detail.close());
  $("detail-close").addEventListener("click", () => $("detail").close());
}
