// The page's wiring: sign-in and sign-out, then the uploader, the library and, for admins, the tools.

import { admin } from "./admin.js";
import { $, api, formatBytes, session } from "./api.js";
import { library, setUpLibrary } from "./library.js";
import { forgetUser } from "./resume.js";
import { queue, setUpUploader, unfinished } from "./uploader.js";

const TOKEN_KEY = "tusmedia.token";

async function signIn(token) {
  session.token = token;
  session.me = await api("/api/me");
  sessionStorage.setItem(TOKEN_KEY, token);
  const me = session.me;
  $("sign-in").hidden = true;
  for (const id of ["uploader", "library", "who", "sign-out"]) $(id).hidden = false;
  $("who").textContent = `Signed in as ${me.user}${me.is_admin ? " (admin)" : ""}`;
  showLimits(me);
  library.onChange = () => {
    if (me.is_admin) admin.changed();
  };
  await library.start();
  await unfinished.refresh();
  if (me.is_admin) await admin.start();
  $("files").focus();
}

function signOut() {
  queue.stopAll();
  library.stop();
  if (session.me) forgetUser(session.me.user); // the resume entries go with the session
  sessionStorage.removeItem(TOKEN_KEY);
  window.location.reload();
}

function showLimits(me) {
  const parts = [];
  const limits = me.limits || {};
  if (limits.max_file_size) parts.push(`up to ${formatBytes(limits.max_file_size)} a file`);
  if (limits.allowed_types?.length) parts.push(`processed: ${limits.allowed_types.join(", ")}`);
  const quota = me.quota || {};
  if (!quota.exempt && quota.bytes_left != null) parts.push(`${formatBytes(quota.bytes_left)} of your quota left`);
  $("limits").textContent = parts.join("; ");
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("sign-in-error").textContent = "";
  try {
    await signIn($("token").value.trim());
  } catch (error) {
    session.token = null;
    session.me = null;
    $("sign-in-error").textContent = `Could not sign in: ${error.message}`;
  }
});
$("sign-out").addEventListener("click", signOut);
setUpUploader(document.body.dataset.tusEndpoint);
setUpLibrary();

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved).catch(() => sessionStorage.removeItem(TOKEN_KEY));
