// The upload queue: each file through the tus client, a few at once, with progress, speed and time
// left; and the user's unfinished uploads from the server, to continue from any browser.

import { $, announce, api, element, formatBytes, formatSeconds, session } from "./api.js";
import { forget, remember, remembered } from "./resume.js";
import { TusUpload } from "./tus.js";

const CHUNK_BYTES = 8 * 1024 * 1024;
const AT_ONCE = 3;
let endpoint = "/files/";

class QueuedFile {
  constructor(file, url) {
    this.file = file;
    this.sent = 0;
    this.speed = 0; // bytes per second, smoothed
    this.lastSample = null;
    this.state = "waiting";
    this.element = element("li", "queued");
    this.element.dataset.state = this.state;
    this.progressBar = element("progress");
    this.progressBar.max = 100;
    this.progressBar.value = 0;
    this.progressBar.setAttribute("aria-label", `${file.name} uploaded`);
    this.percent = element("span", "percent", "0 %");
    this.detailText = element("span", "detail", "waiting");
    this.pauseButton = element("button", "pause", "Pause");
    this.pauseButton.type = "button";
    this.pauseButton.setAttribute("aria-label", `Pause ${file.name}`);
    this.pauseButton.addEventListener("click", () => this.togglePause());
    const cancelButton = element("button", "cancel", "Cancel");
    cancelButton.type = "button";
    cancelButton.setAttribute("aria-label", `Cancel ${file.name}`);
    cancelButton.addEventListener("click", () => this.cancel());
    this.actions = element("span", "actions");
    this.actions.append(this.pauseButton, cancelButton);
    this.element.append(element("span", "name", file.name), this.progressBar, this.percent, this.detailText, this.actions);
    this.upload = new TusUpload(file, {
      endpoint,
      token: session.token,
      chunkSize: CHUNK_BYTES,
      url: url || remembered(session.me.user, file),
      onUrl: (made) => remember(session.me.user, file, made),
      onProgress: (sent, total) => this.progress(sent, total),
      onRetry: (delay, reason) => this.detail(`connection lost (${reason}); retrying in ${Math.ceil(delay / 1000)} s`),
    });
  }

  setState(state) {
    this.state = state;
    this.element.dataset.state = state;
  }

  detail(text) {
    this.detailText.textContent = text;
  }

  progress(sent, total) {
    const now = performance.now();
    if (this.lastSample && now - this.lastSample.at > 200) {
      const instant = ((sent - this.lastSample.sent) * 1000) / (now - this.lastSample.at);
      this.speed = this.speed ? 0.8 * this.speed + 0.2 * instant : instant; // smoothed: no jumping figures
      this.lastSample = { at: now, sent };
    } else if (!this.lastSample) {
      this.lastSample = { at: now, sent };
    }
    this.sent = sent;
    const percent = total ? Math.floor((sent * 100) / total) : 100;
    this.progressBar.value = percent;
    this.percent.textContent = `${percent} %`;
    if (sent < total && this.speed > 0) this.detail(`${formatBytes(this.speed)}/s, ${formatSeconds((total - sent) / this.speed)}`);
    queue.showOverall();
  }

  async run() {
    this.setState("uploading");
    this.detail("starting");
    try {
      const finished = await this.upload.start();
      if (!finished) return;
      this.setState("done");
      forget(session.me.user, this.file);
      this.progress(this.file.size, this.file.size);
      this.detail("uploaded");
      this.actions.remove();
      announce(`${this.file.name} uploaded`);
    } catch (error) {
      this.setState("failed");
      this.detail(`failed: ${error.message}`);
      announce(`${this.file.name} failed: ${error.message}`);
    }
  }

  togglePause() {
    if (this.state === "uploading") {
      this.upload.pause();
      this.setState("paused");
      this.pauseButton.textContent = "Resume";
      this.pauseButton.setAttribute("aria-label", `Resume ${this.file.name}`);
      this.detail("paused");
      announce(`${this.file.name} paused`);
    } else if (this.state === "paused") {
      this.pauseButton.textContent = "Pause";
      this.pauseButton.setAttribute("aria-label", `Pause ${this.file.name}`);
      this.setState("waiting");
      queue.pump();
    }
  }

  async cancel() {
    this.setState("cancelled");
    await this.upload.cancel();
    forget(session.me.user, this.file);
    this.element.remove();
    queue.remove(this);
    announce(`${this.file.name} cancelled`);
  }
}

export const queue = {
  files: [],
  running: 0,

  add(fileList, url = null) {
    const limit = session.me.limits?.max_file_size;
    for (const file of fileList) {
      if (limit && file.size > limit) {
        announce(`${file.name} is larger than ${formatBytes(limit)}, the most a file may be`);
        continue;
      }
      const queued = new QueuedFile(file, url);
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

  remove(queued) {
    this.files = this.files.filter((other) => other !== queued);
    this.showOverall();
  },

  stopAll() {
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

// The server's list of this user's unfinished uploads: pick the same file again, here or in any other
// browser, and it continues from what the server has.
export const unfinished = {
  async refresh() {
    const list = $("unfinished");
    let items = [];
    try {
      items = (await api(`/api/uploads/active?owner=${encodeURIComponent(session.me.user)}`)).items;
    } catch {
      return;
    }
    const inQueue = new Set(queue.files.map((queued) => queued.upload.url));
    items = items.filter((item) => !inQueue.has(item.upload_url));
    $("unfinished-section").hidden = items.length === 0;
    list.replaceChildren(...items.map((item) => this.entry(item)));
  },

  entry(item) {
    const row = element("li", "unfinished");
    const name = item.filename || item.id;
    const percent = item.length ? Math.floor((item.offset * 100) / item.length) : 0;
    const when = new Date(item.last_activity || item.created_at).toLocaleString();
    const text = element("span", "name", `${name}: ${percent} % (${formatBytes(item.offset)} of ${item.length == null ? "?" : formatBytes(item.length)}), last active ${when}`);
    const picker = element("input");
    picker.type = "file";
    picker.id = `continue-${item.id}`;
    const label = element("label", "continue", `Continue ${name}: pick the file again`);
    label.htmlFor = picker.id;
    picker.addEventListener("change", () => {
      const file = picker.files[0];
      if (!file) return;
      if (file.size !== item.length || (item.filename && file.name !== item.filename)) {
        announce(`That is not ${name}: pick the same file (${item.length == null ? "" : formatBytes(item.length)})`);
        return;
      }
      row.remove();
      $("unfinished-section").hidden = $("unfinished").children.length === 0;
      queue.add([file], item.upload_url);
    });
    row.append(text, label, picker);
    return row;
  },
};

export function setUpUploader(tusEndpoint) {
  endpoint = tusEndpoint;
  $("files").addEventListener("change", (event) => {
    queue.add(event.target.files);
    event.target.value = "";
  });
  const dropZone = $("drop-zone");
  dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropZone.classList.add("over");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
  dropZone.addEventListener("drop", async (event) => {
    event.preventDefault();
    dropZone.classList.remove("over");
    queue.add(await droppedFiles(event.dataTransfer));
  });
  document.addEventListener("paste", (event) => {
    if (!session.me || !event.clipboardData?.files.length) return;
    queue.add(event.clipboardData.files);
  });
}

// Files and the files inside dropped folders, walked with the entries API.
async function droppedFiles(transfer) {
  const entries = [...transfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...transfer.files];
  const files = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      files.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  for (const entry of entries) await walk(entry);
  return files;
}
