// What every part of the page shares: who is signed in, the API with their token, the live region.

export const session = { token: null, me: null };

export const $ = (id) => document.getElementById(id);

export async function api(path, init = {}) {
  const headers = { Authorization: `Bearer ${session.token}`, ...(init.headers || {}) };
  const response = await fetch(path, { ...init, headers });
  if (!response.ok) throw new Error((await response.text()).trim() || `${path} answered ${response.status}`);
  return response.status === 204 ? null : response.json();
}

export function announce(text) {
  const region = $("announcer");
  region.textContent = "";
  // A new text node each time, so a screen reader announces the same words twice in a row too.
  requestAnimationFrame(() => { region.textContent = text; });
}

export function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s left`;
}

export function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text != null) made.textContent = text;
  return made;
}
