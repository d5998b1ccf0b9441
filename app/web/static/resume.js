// Unfinished uploads remembered per user, so choosing the same file after a reload continues it.
// A file is known by its name, size and modification time; entries expire, and go on success and
// on sign-out, so storage never fills up.

const KEEP_MS = 7 * 24 * 3600 * 1000;

const keyFor = (user) => `tusmedia.resume.${user}`;

export function fingerprint(file) {
  return `${file.name}|${file.size}|${file.lastModified}`;
}

function load(user) {
  try {
    return JSON.parse(localStorage.getItem(keyFor(user)) || "{}");
  } catch {
    return {};
  }
}

function save(user, entries) {
  localStorage.setItem(keyFor(user), JSON.stringify(entries));
}

export function remembered(user, file) {
  const entry = load(user)[fingerprint(file)];
  return entry && Date.now() - entry.savedAt < KEEP_MS ? entry.url : null;
}

export function remember(user, file, url) {
  const entries = load(user);
  for (const [key, entry] of Object.entries(entries)) {
    if (Date.now() - entry.savedAt >= KEEP_MS) delete entries[key];
  }
  entries[fingerprint(file)] = { url, savedAt: Date.now() };
  save(user, entries);
}

export function forget(user, file) {
  const entries = load(user);
  delete entries[fingerprint(file)];
  save(user, entries);
}

export function forgetUser(user) {
  localStorage.removeItem(keyFor(user));
}
