// Admin tools: the stats of /api/stats, the failures with their reasons, reprocessing them, and the
// webhook deliveries with their attempts. Shown to admins only; the API refuses everyone else anyway.

import { $, announce, api, element, formatBytes } from "./api.js";

const STATUSES = ["uploading", "queued", "processing", "ready", "failed"];
const REFRESH_MS = 5000;
// Deliveries change without an asset event (a retry, giving up): the view is asked again this often too.
const POLL_MS = 15000;

export const admin = {
  timer: null,
  pending: false,

  async start() {
    $("admin").hidden = false;
    $("reprocess-failed").addEventListener("click", () => this.reprocessFailed());
    $("refresh-admin").addEventListener("click", () => this.refresh());
    setInterval(() => this.refresh(), POLL_MS);
    await this.refresh();
  },

  // Stats change with every event; asked at most every few seconds, however many events arrive.
  changed() {
    if (this.timer) {
      this.pending = true;
      return;
    }
    this.timer = setTimeout(async () => {
      this.timer = null;
      await this.refresh();
      if (this.pending) {
        this.pending = false;
        this.changed();
      }
    }, REFRESH_MS);
  },

  async refresh() {
    try {
      const [stats, deliveries] = await Promise.all([api("/api/stats"), api("/api/webhooks/deliveries?limit=20")]);
      this.showStats(stats);
      this.showDeliveries(deliveries.items);
    } catch (error) {
      $("stats").replaceChildren(element("p", "error", `Could not load the stats: ${error.message}`));
    }
  },

  showStats(stats) {
    const list = element("dl", "stats");
    const stat = (term, value) => list.append(element("dt", null, term), element("dd", null, value));
    for (const status of STATUSES) {
      const entry = stats.by_status[status] || { count: 0, bytes: 0 };
      stat(status, `${entry.count} (${formatBytes(entry.bytes)})`);
    }
    stat("total", `${stats.total.count} (${formatBytes(stats.total.bytes)})`);
    if (stats.queue) {
      stat("queue depth", String(stats.queue.depth ?? "?"));
      const age = stats.queue.oldest_age_seconds;
      stat("oldest queued", age == null ? "none" : `${age.toFixed(1)} s ago`);
    }
    const hour = stats.processing_time_ms?.last_hour;
    if (hour?.count) stat("processing, last hour", `p50 ${hour.p50} ms, p95 ${hour.p95} ms, p99 ${hour.p99} ms (${hour.count} jobs)`);
    $("stats").replaceChildren(list);
    const failures = $("failures");
    failures.replaceChildren(...(stats.failures || []).map((failure) => element("li", null, `${failure.count} × ${failure.reason}`)));
    $("reprocess-failed").disabled = !(stats.by_status.failed?.count > 0);
  },

  showDeliveries(items) {
    const rows = items.map((delivery) => {
      const row = element("li", `delivery ${delivery.status}`);
      const attempts = delivery.attempt_log || [];
      const last = attempts.at(-1);
      const outcome = last ? (last.error || `HTTP ${last.status_code}`) : "not tried yet";
      const summary = `${delivery.type} for ${delivery.asset_id} to ${delivery.endpoint}: ${delivery.status}, ${delivery.attempts} attempt(s), last: ${outcome}`;
      row.append(element("span", "delivery-summary", summary));
      if (attempts.length) {
        const details = element("details");
        details.append(element("summary", null, "Attempts"));
        const list = element("ol");
        for (const attempt of attempts) {
          const result = attempt.error || `HTTP ${attempt.status_code}`;
          list.append(element("li", null, `${new Date(attempt.at).toLocaleTimeString()}: ${result} in ${attempt.duration_ms} ms`));
        }
        details.append(list);
        row.append(details);
      }
      if (delivery.status !== "pending") {
        const button = element("button", null, "Redeliver");
        button.type = "button";
        button.setAttribute("aria-label", `Redeliver ${delivery.type} for ${delivery.asset_id}`);
        button.addEventListener("click", () => this.redeliver(delivery));
        row.append(button);
      }
      return row;
    });
    $("deliveries").replaceChildren(...rows);
    $("deliveries-empty").hidden = rows.length > 0;
  },

  async redeliver(delivery) {
    try {
      await api(`/api/webhooks/deliveries/${delivery.id}/redeliver`, { method: "POST" });
      announce(`${delivery.type} for ${delivery.asset_id} will be delivered again`);
    } catch (error) {
      announce(`Could not redeliver: ${error.message}`);
    }
    await this.refresh();
  },

  async reprocessFailed() {
    const answer = await api("/api/assets/reprocess", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ status: "failed" }),
    });
    const count = answer.queued;
    announce(`${count} failed asset(s) queued for processing again`);
    await this.refresh();
  },
};
