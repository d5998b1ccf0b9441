// A tus 1.0 client for one file: creation with upload, PATCH in chunks at the server's offset, HEAD to
// resume, retries with backoff on network errors, 5xx and 423, pause, and cancel by DELETE.

const TUS_VERSION = "1.0.0";
const OCTETS = "application/offset+octet-stream";
export const RETRY_DELAYS_MS = [500, 1000, 3000, 5000, 10000, 20000];

export class UploadError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function encodeMetadata(metadata) {
  const utf8Base64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  return Object.entries(metadata)
    .map(([key, value]) => `${key} ${utf8Base64(String(value))}`)
    .join(",");
}

function retryable(status) {
  return status === 0 || status === 423 || status === 429 || status >= 500;
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });

export class TusUpload {
  // options: endpoint, token, chunkSize, metadata, url (to resume), onProgress(sent, total),
  // onUrl(url) once the server made the upload, onRetry(delayMs, reason).
  constructor(file, options) {
    this.file = file;
    this.options = options;
    this.url = options.url || null;
    this.offset = 0;
    this.paused = false;
    this.controller = null;
    this.request = null;
  }

  headers(extra = {}) {
    return { "Tus-Resumable": TUS_VERSION, Authorization: `Bearer ${this.options.token}`, ...extra };
  }

  // Runs until the file is uploaded (resolves), paused (resolves with false), or failed (throws).
  async start() {
    this.paused = false;
    this.controller = new AbortController();
    let attempt = 0;
    while (!this.paused) {
      try {
        if (this.url) {
          await this.resumeOffset();
        } else {
          await this.create();
        }
        while (this.offset < this.file.size && !this.paused) {
          await this.patch();
          attempt = 0;
        }
        return !this.paused;
      } catch (error) {
        if (this.paused) return false;
        const status = error instanceof UploadError ? error.status : 0;
        if (!retryable(status) || attempt >= RETRY_DELAYS_MS.length) throw error;
        const delay = RETRY_DELAYS_MS[attempt++];
        this.options.onRetry?.(delay, error.message);
        await sleep(delay, this.controller.signal);
      }
    }
    return false;
  }

  pause() {
    this.paused = true;
    this.controller?.abort();
    this.request?.abort();
  }

  async cancel() {
    this.pause();
    if (!this.url) return;
    await fetch(this.url, { method: "DELETE", headers: this.headers() }).catch(() => undefined);
  }

  async resumeOffset() {
    const response = await this.fetch(this.url, { method: "HEAD", headers: this.headers() });
    if (response.status === 404 || response.status === 410) {
      this.url = null; // gone (expired, deleted): start over
      this.offset = 0;
      return this.create();
    }
    if (!response.ok) throw new UploadError(`HEAD answered ${response.status}`, response.status);
    this.offset = Number(response.headers.get("Upload-Offset"));
    this.reportProgress(this.offset);
  }

  async create() {
    const headers = this.headers({
      "Upload-Length": String(this.file.size),
      "Upload-Metadata": encodeMetadata({ filename: this.file.name, filetype: this.file.type || "application/octet-stream" }),
    });
    const first = this.file.slice(0, Math.min(this.file.size, this.options.chunkSize));
    const answer = await this.send("POST", this.options.endpoint, headers, first, 0);
    if (answer.status !== 201) throw new UploadError(await answer.reason, answer.status);
    this.url = new URL(answer.header("Location"), window.location.href).href;
    this.options.onUrl?.(this.url);
    this.offset = Number(answer.header("Upload-Offset") || 0);
  }

  async patch() {
    const chunk = this.file.slice(this.offset, Math.min(this.file.size, this.offset + this.options.chunkSize));
    const headers = this.headers({ "Upload-Offset": String(this.offset) });
    const answer = await this.send("PATCH", this.url, headers, chunk, this.offset);
    if (answer.status === 409) {
      await this.resumeOffset(); // the server has more or less than we thought: continue from its offset
      return;
    }
    if (answer.status !== 204) throw new UploadError(await answer.reason, answer.status);
    this.offset = Number(answer.header("Upload-Offset"));
    this.reportProgress(this.offset);
  }

  reportProgress(sent) {
    this.options.onProgress?.(sent, this.file.size);
  }

  async fetch(url, init) {
    try {
      return await fetch(url, { ...init, signal: this.controller.signal });
    } catch (error) {
      throw new UploadError(`network error: ${error.message}`, 0);
    }
  }

  // XMLHttpRequest, not fetch: it reports the bytes sent while a chunk is on its way.
  send(method, url, headers, body, startOffset) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      this.request = request;
      request.open(method, url);
      for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
      if (body.size > 0) request.setRequestHeader("Content-Type", OCTETS);
      request.upload.onprogress = (event) => this.reportProgress(startOffset + event.loaded);
      request.onload = () =>
        resolve({
          status: request.status,
          header: (name) => request.getResponseHeader(name),
          reason: Promise.resolve((request.responseText || `${method} answered ${request.status}`).trim()),
        });
      request.onerror = () => reject(new UploadError("network error", 0));
      request.onabort = () => reject(new UploadError("paused", 0));
      request.ontimeout = () => reject(new UploadError("timed out", 0));
      request.send(body.size > 0 ? body : null);
    });
  }
}
