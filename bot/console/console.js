// The console: renders the emulated workspace as one person sees it, and sends what they do.
// Plain DOM; every change in the workspace arrives as a server-sent event and is re-fetched.
"use strict";

const ui = {
  me: localStorage.getItem("runbook-console-user") || "U0SRE0001",
  channel: localStorage.getItem("runbook-console-channel") || "C0INCIDENT",
  home: false,
  thread: null,
  snap: null,
  drawn: {},
};
const $ = (id) => document.getElementById(id);
const COLORS = ["#e8912d", "#2eb67d", "#1264a3", "#e01e5a", "#4a154b", "#36c5f0", "#8d6e63"];
const EMOJI = {
  warning: "⚠️", white_check_mark: "✅", x: "❌", lock: "🔒", hourglass: "⏳",
  rotating_light: "🚨", heavy_check_mark: "✔️", no_entry: "⛔", memo: "📝", gear: "⚙️",
  large_green_circle: "🟢", red_circle: "🔴", arrow_right: "➡️", clipboard: "📋", bell: "🔔",
};

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
// Slack escapes only &, < and > in message text; undo that before escaping for HTML.
function unslack(s) { return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&"); }
function userName(id) {
  const u = (ui.snap?.users || []).find((x) => x.id === id);
  return u ? u.name : id;
}
function channelName(id) {
  const c = (ui.snap?.channels || []).find((x) => x.id === id);
  return c ? c.name : id;
}
function styleSpans(html) {
  return html
    .replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;!?])/g, "$1<b>$2</b>")
    .replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,:;!?])/g, "$1<i>$2</i>")
    .replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,:;!?])/g, "$1<s>$2</s>")
    .replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
}
function token(inner) {
  const [target, label] = inner.split("|", 2);
  if (target.startsWith("@")) return `<span class="mention">@${esc(label || userName(target.slice(1)))}</span>`;
  if (target.startsWith("#")) return `<span class="mention">#${esc(label || channelName(target.slice(1)))}</span>`;
  if (target.startsWith("!")) return `<span class="mention">@${esc(target.slice(1))}</span>`;
  if (/^(https?:|mailto:)/.test(target)) return `<a href="${esc(target)}" target="_blank" rel="noopener">${esc(unslack(label || target))}</a>`;
  return esc(unslack(inner));
}
function inline(text) {
  // code spans first, then <...> tokens, then styles on what is left
  return text.split(/(`[^`\n]+`)/).map((part) => {
    if (/^`[^`\n]+`$/.test(part)) return `<code>${esc(unslack(part.slice(1, -1)))}</code>`;
    let out = "", last = 0;
    for (const m of part.matchAll(/<([^<>\s][^<>]*)>/g)) {
      out += styleSpans(esc(unslack(part.slice(last, m.index))));
      out += token(m[1]);
      last = m.index + m[0].length;
    }
    return out + styleSpans(esc(unslack(part.slice(last))));
  }).join("");
}
function mrkdwn(text) {
  return String(text || "").split(/```([\s\S]*?)```/).map((part, i) =>
    i % 2 ? `<pre>${esc(unslack(part.replace(/^\n/, "")))}</pre>` : inline(part)).join("");
}
function textObject(obj) {
  if (!obj) return "";
  return obj.type === "mrkdwn" ? mrkdwn(obj.text) : esc(obj.text).replace(/:([a-z0-9_+-]+):/g, (m, n) => EMOJI[n] || m);
}
function when(ts) {
  const d = new Date(parseFloat(ts.split(".")[0]) * 1000);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// ---- Block Kit -------------------------------------------------------------------------------

function element(el, blockId, where) {
  const attrs = `data-action="${esc(el.action_id || "")}" data-block="${esc(blockId)}" ${where}`;
  if (el.type === "button") {
    const style = el.style ? ` ${el.style}` : "";
    const confirm = el.confirm ? ` data-confirm="${esc((el.confirm.text || {}).text || "Are you sure?")}"` : "";
    return `<button type="button" class="btn${style}" ${attrs}${confirm}>${textObject(el.text)}</button>`;
  }
  if (el.type === "static_select") {
    const options = (el.options || []).map((o) => `<option value="${esc(o.value)}">${textObject(o.text)}</option>`).join("");
    const placeholder = el.placeholder ? textObject(el.placeholder) : "Choose…";
    return `<select ${attrs}><option value="" disabled selected>${placeholder}</option>${options}</select>`;
  }
  return "";
}
function blocks(list, where) {
  return (list || []).map((b) => {
    const id = b.block_id || "";
    switch (b.type) {
      case "header": return `<div class="block header">${textObject(b.text)}</div>`;
      case "divider": return `<hr class="block divider">`;
      case "context": return `<div class="block context">${(b.elements || []).map((e) => `<span>${e.type === "image" ? "" : textObject(e)}</span>`).join("")}</div>`;
      case "actions": return `<div class="block actions">${(b.elements || []).map((e) => element(e, id, where)).join("")}</div>`;
      case "section": {
        const fields = b.fields ? `<div class="fields">${b.fields.map((f) => `<div>${textObject(f)}</div>`).join("")}</div>` : "";
        const accessory = b.accessory ? `<div class="actions">${element(b.accessory, id, where)}</div>` : "";
        return `<div class="block section"><div class="text">${textObject(b.text)}</div>${fields}${accessory}</div>`;
      }
      case "input": return inputBlock(b);
      default: return "";
    }
  }).join("");
}
function inputBlock(b) {
  const el = b.element || {};
  const name = `${b.block_id}`;
  const errors = (ui.snap?.modal?.errors) || {};
  const error = errors[b.block_id];
  let control = "";
  if (el.type === "static_select") {
    const initial = el.initial_option ? el.initial_option.value : "";
    const options = (el.options || []).map((o) => `<option value="${esc(o.value)}"${o.value === initial ? " selected" : ""}>${textObject(o.text)}</option>`).join("");
    control = `<select id="in-${esc(name)}" data-input="${esc(name)}" data-kind="static_select" data-element="${esc(el.action_id)}"><option value=""${initial ? "" : " selected"}>Choose…</option>${options}</select>`;
  } else {
    const tag = el.multiline ? "textarea" : "input";
    const value = esc(el.initial_value || "");
    control = el.multiline
      ? `<textarea id="in-${esc(name)}" rows="3" data-input="${esc(name)}" data-kind="plain_text_input" data-element="${esc(el.action_id)}">${value}</textarea>`
      : `<${tag} id="in-${esc(name)}" value="${value}" data-input="${esc(name)}" data-kind="plain_text_input" data-element="${esc(el.action_id)}">`;
  }
  return `<div class="input${error ? " invalid" : ""}"><label for="in-${esc(name)}">${textObject(b.label)}${b.optional ? ' <span class="muted">(optional)</span>' : ""}</label>${control}${b.hint ? `<div class="hint">${textObject(b.hint)}</div>` : ""}${error ? `<div class="error">${esc(error)}</div>` : ""}</div>`;
}

// ---- messages --------------------------------------------------------------------------------

function avatar(id) {
  const user = (ui.snap.users || []).find((u) => u.id === id);
  if (user && user.is_bot) return `<div class="avatar" style="background:#2eb67d">R</div>`;
  const n = [...id].reduce((a, c) => a + c.charCodeAt(0), 0);
  return `<div class="avatar" style="background:${COLORS[n % COLORS.length]}">${esc(userName(id).slice(0, 1))}</div>`;
}
function message(m, inThread) {
  const where = `data-channel="${esc(m.channel)}" data-ts="${esc(m.ts)}"`;
  const bot = m.user === "UBOT00001";
  const body = m.blocks && m.blocks.length ? blocks(m.blocks, where) : `<div class="text">${mrkdwn(m.text)}</div>`;
  const eph = m.ephemeral_for ? `<div class="only">Only visible to you · <button class="linklike" data-dismiss="${esc(m.ts)}">Dismiss</button></div>` : "";
  const replies = !inThread && m.reply_count ? `<div class="replies"><button class="linklike" data-thread="${esc(m.ts)}">${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}</button></div>` : "";
  return `<div class="msg${m.ephemeral_for ? " ephemeral" : ""}" data-msg="${esc(m.ts)}">${avatar(m.user)}<div class="body">` +
    `<span class="who">${esc(userName(m.user))}</span>${bot ? '<span class="tag">APP</span>' : ""}<span class="when">${when(m.ts)}</span>` +
    `${eph}${body}${m.edited ? '<span class="edited">(edited)</span>' : ""}${replies}</div></div>`;
}
function paint(id, html, stick) {
  if (ui.drawn[id] === html) return;
  const node = $(id);
  const atBottom = node.scrollHeight - node.scrollTop - node.clientHeight < 40;
  node.innerHTML = html;
  ui.drawn[id] = html;
  if (stick && atBottom) node.scrollTop = node.scrollHeight;
}

function render() {
  const snap = ui.snap;
  if (!snap) return;
  $("team").textContent = snap.team;
  const select = $("user");
  const options = snap.users.filter((u) => !u.is_bot).map((u) => `<option value="${esc(u.id)}"${u.id === ui.me ? " selected" : ""}>${esc(u.name)} — ${esc(u.title)}</option>`).join("");
  if (ui.drawn.users !== options) { select.innerHTML = options; ui.drawn.users = options; }
  if (!snap.channels.some((c) => c.id === ui.channel) && snap.channels.length) ui.channel = snap.channels[0].id;
  paint("channels", snap.channels.map((c) => `<li><button class="nav${!ui.home && c.id === ui.channel ? " active" : ""}" data-channel-link="${esc(c.id)}">${c.dm ? "✉" : "#"} ${esc(c.dm ? "runbook-bot (messages)" : c.name)}</button></li>`).join(""), false);
  $("home-link").classList.toggle("active", ui.home);
  const composer = $("composer");
  if (ui.home) {
    $("pane-head").innerHTML = `<span class="app-dot">R</span> runbook-bot <span class="muted">Home</span>`;
    composer.hidden = true;
    const home = snap.home;
    paint("messages", home ? `<div class="msg"><div class="body">${blocks(home.view.blocks, `data-view="${esc(home.id)}"`)}</div></div>` : `<div class="empty">Opening the Home tab…</div>`, false);
  } else {
    const channel = snap.channels.find((c) => c.id === ui.channel);
    $("pane-head").innerHTML = channel ? (channel.dm ? "✉ runbook-bot" : `# ${esc(channel.name)}`) : "";
    composer.hidden = false;
    $("composer-input").placeholder = channel ? `Message ${channel.dm ? "runbook-bot" : "#" + channel.name} — try /runbook` : "";
    const roots = snap.messages.filter((m) => m.channel === ui.channel && !m.thread_ts);
    paint("messages", roots.length ? roots.map((m) => message(m, false)).join("") : `<div class="empty">No messages yet. Type <code>/runbook</code> below to see what the bot can do.</div>`, true);
  }
  const threadPane = $("thread");
  const root = ui.thread && snap.messages.find((m) => m.ts === ui.thread);
  threadPane.hidden = !root;
  if (root) {
    $("thread-channel").textContent = `#${channelName(root.channel)}`;
    const replies = snap.messages.filter((m) => m.thread_ts === root.ts);
    paint("thread-messages", message(root, true) + replies.map((m) => message(m, true)).join(""), true);
  }
  renderModal(snap.modal);
}

function renderModal(modal) {
  const box = $("modal");
  if (!modal) { box.hidden = true; ui.drawn.modal = null; return; }
  const key = JSON.stringify([modal.id, modal.view, modal.errors]);
  box.hidden = false;
  if (ui.drawn.modal === key) return;
  const keep = readInputs();
  ui.drawn.modal = key;
  const view = modal.view;
  $("modal-title").innerHTML = textObject(view.title);
  $("modal-body").innerHTML = blocks(view.blocks, `data-view="${esc(modal.id)}"`) +
    (modal.errors && modal.errors[""] ? `<div class="input invalid"><div class="error">${esc(modal.errors[""])}</div></div>` : "");
  $("modal-submit").innerHTML = view.submit ? textObject(view.submit) : "Submit";
  $("modal-submit").hidden = !view.submit;
  $("modal-cancel").innerHTML = view.close ? textObject(view.close) : "Cancel";
  // Values typed before a redraw (errors coming back) stay where they were.
  for (const [blockId, value] of Object.entries(keep)) {
    const input = document.querySelector(`[data-input="${CSS.escape(blockId)}"]`);
    if (input) input.value = value;
  }
  const first = $("modal-body").querySelector("input, textarea, select");
  if (first && !Object.keys(keep).length) first.focus();
}
function readInputs() {
  const out = {};
  document.querySelectorAll("#modal-body [data-input]").forEach((n) => { out[n.dataset.input] = n.value; });
  return out;
}
function stateValues() {
  const values = {};
  document.querySelectorAll("#modal-body [data-input]").forEach((n) => {
    const entry = n.dataset.kind === "static_select"
      ? { type: "static_select", selected_option: n.value ? { text: { type: "plain_text", text: n.selectedOptions[0].textContent }, value: n.value } : null }
      : { type: "plain_text_input", value: n.value || null };
    values[n.dataset.input] = { [n.dataset.element]: entry };
  });
  return values;
}

// ---- talking to the emulator ------------------------------------------------------------------

async function post(path, body) {
  const response = await fetch(`/console/api/${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: ui.me, ...body }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) toast(data.error || `The console could not do that (${response.status}).`);
  else if (data.status && data.status !== 200) toast(`The bot answered ${data.status}: ${(data.body && data.body.text) || "no details"}`);
  return data;
}
let toastTimer = null;
function toast(text) {
  const node = $("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 5000);
}
async function refresh() {
  const response = await fetch(`/console/api/state?user=${encodeURIComponent(ui.me)}`);
  if (!response.ok) {
    if (ui.me !== "U0SRE0001") { ui.me = "U0SRE0001"; return refresh(); }
    return;
  }
  ui.snap = await response.json();
  render();
}
function openHome() {
  ui.home = true;
  ui.thread = null;
  render();
  post("home", {});
}

document.addEventListener("click", async (event) => {
  const target = event.target.closest("button");
  if (!target) return;
  if (target.dataset.channelLink) {
    ui.channel = target.dataset.channelLink; ui.home = false; ui.thread = null;
    localStorage.setItem("runbook-console-channel", ui.channel);
    render();
  } else if (target.dataset.home) {
    openHome();
  } else if (target.dataset.thread) {
    ui.thread = target.dataset.thread; render();
  } else if (target.dataset.dismiss) {
    post("dismiss", { ts: target.dataset.dismiss });
  } else if (target.dataset.action && target.tagName === "BUTTON") {
    if (target.dataset.confirm && !window.confirm(target.dataset.confirm)) return;
    target.disabled = true;
    const where = target.dataset.view ? { view_id: target.dataset.view } : { channel: target.dataset.channel, ts: target.dataset.ts };
    await post("click", { ...where, action_id: target.dataset.action, block_id: target.dataset.block });
    target.disabled = false;
  }
});
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.tagName !== "SELECT" || !target.dataset.action) return;
  const where = target.dataset.view ? { view_id: target.dataset.view } : { channel: target.dataset.channel, ts: target.dataset.ts };
  post("click", { ...where, action_id: target.dataset.action, block_id: target.dataset.block, option: target.value });
});
$("user").addEventListener("change", (event) => {
  ui.me = event.target.value;
  localStorage.setItem("runbook-console-user", ui.me);
  ui.drawn = {};
  if (ui.home) openHome(); else refresh();
});
$("thread-close").addEventListener("click", () => { ui.thread = null; render(); });
$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("composer-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  const data = await post("say", { channel: ui.channel, text });
  if (data.error) input.value = text;
});
$("modal-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const modal = ui.snap && ui.snap.modal;
  if (!modal) return;
  $("modal-submit").disabled = true;
  await post("submit", { view_id: modal.id, values: stateValues() });
  $("modal-submit").disabled = false;
});
for (const id of ["modal-x", "modal-cancel"]) {
  $(id).addEventListener("click", () => { const modal = ui.snap && ui.snap.modal; if (modal) post("close", { view_id: modal.id }); });
}
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && ui.snap && ui.snap.modal) post("close", { view_id: ui.snap.modal.id });
});

function listen() {
  const source = new EventSource("/console/api/stream");
  source.onmessage = () => refresh();
  source.onerror = () => { source.close(); setTimeout(listen, 1000); };
}
refresh().then(listen);
