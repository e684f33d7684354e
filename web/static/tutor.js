// Inkbus practice and chat panels. Practice: Socket.IO `check` {target} -> `feedback` (docs/TUTORING.md).
// Chat: POST /api/v1/chat {text} -> {reply: {title, text, fields, data}}, the same core as the bots.
// Who practises is the server's signed session cookie (HttpOnly): this script never names a learner.
// It shares the drawing page's connection (app.js): the server grades the drawing it holds.
import { hasInk, ink } from "./app.js";

const $ = (sel) => document.querySelector(sel);
const ui = {
  target: $("#target"), tip: $("#target-tip"), grade: $("#grade"),
  verdict: $("#grade-verdict"), hint: $("#grade-hint"), free: $("#free-hint"), progress: $("#progress"),
  log: $("#chat-log"), form: $("#chat-form"), input: $("#chat-input"),
};
const CHARS = /^[0-9A-Za-z]$/;
let pendingJob = null;

// ---- chat
async function ask(text) {
  const res = await fetch("/api/v1/chat", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ text }),
  });
  const body = await res.json();
  if (!res.ok) return { title: "Sorry", text: body.error ? body.error.message : "the server failed", ok: false, fields: [], data: {} };
  return body.reply;
}

function say(reply, who = "bot") {
  const li = document.createElement("li");
  li.className = who === "me" ? "me" : reply.ok === false ? "err" : "bot";
  if (who === "me") {
    li.textContent = reply;
  } else {
    const title = document.createElement("b");
    title.textContent = reply.title;
    li.append(title);
    if (reply.text) li.append(" " + reply.text);
    if (reply.fields && reply.fields.length) {
      const dl = document.createElement("dl");
      for (const f of reply.fields) {
        const dt = document.createElement("dt"), dd = document.createElement("dd");
        dt.textContent = f.name;
        dd.textContent = f.value;
        dl.append(dt, dd);
      }
      li.append(dl);
    }
  }
  ui.log.append(li);
  ui.log.scrollTop = ui.log.scrollHeight;
}

ui.form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = ui.input.value.trim();
  if (!text) return;
  ui.input.value = "";
  say(text, "me");
  try {
    const reply = await ask(text);
    say(reply);
    if (reply.data && reply.data.target) setTarget(reply.data.target, reply.fields);
    if (reply.data && reply.data.deleted !== undefined) refreshProgress();
  } catch (e) {
    say({ title: "Sorry", text: "the server is unreachable", ok: false });
  }
});
// Escape and Ctrl+Z belong to the pad, except while typing here.
for (const el of [ui.input, ui.target]) el.addEventListener("keydown", (ev) => ev.stopPropagation());

// ---- practice
function showTip(fields) {
  const how = (fields || []).find((f) => f.name === "How");
  ui.tip.textContent = how ? how.value : "";
}

function setTarget(char, fields) {
  ui.target.value = char;
  showTip(fields);
  ui.grade.dataset.state = "idle";
}

$("#new-target").addEventListener("click", async () => {
  const reply = await ask("practice");
  if (reply.data && reply.data.target) setTarget(reply.data.target, reply.fields);
});

ui.target.addEventListener("change", async () => {
  const char = ui.target.value;
  if (!CHARS.test(char)) return;
  // The old grade goes now, not when the reply comes: the learner may have drawn and pressed Check meanwhile
  // (leaving the box fires this change), and a late reply must not wipe that grade.
  ui.grade.dataset.state = "idle";
  const reply = await ask("practice " + char);
  if (ui.target.value === char) showTip(reply.fields);
});

function showGrade(state, verdict, hint) {
  ui.grade.dataset.state = state;
  ui.verdict.textContent = verdict;
  ui.hint.textContent = hint || "";
}

$("#check").addEventListener("click", () => {
  const target = ui.target.value;
  if (!CHARS.test(target)) return showGrade("error", "Pick a target first:", "one digit or letter, or press New.");
  if (!hasInk()) return showGrade("error", "Nothing to check:", `draw ${target} on the pad first.`);
  showGrade("checking", "Checking…", "");
  ink.check(target).then((ack) => {
    if (!ack || !ack.ok) return showGrade("error", "Could not check:", ack ? ack.message : "no answer");
    pendingJob = ack.job_id;
  });
});

ink.on("prediction", () => { ui.free.textContent = ""; }); // a free hint is about the previous guess
ink.on("feedback", (f) => {
  if (!f) return;
  if (f.mode === "free") {
    ui.free.textContent = f.hint ? "Tip: " + f.hint : "";
    return;
  }
  if (f.job_id !== pendingJob) return;
  pendingJob = null;
  const pct = Math.round((f.confidence || 0) * 100);
  const verdict = f.correct ? `Correct! ${f.target} (${pct}%) · streak ${f.streak}` : `Not quite: that looks like ${f.looked_like || f.predicted} (${pct}%)`;
  const unsaved = f.recorded === false ? " Your progress wasn't saved this time: the progress store is unavailable." : "";
  showGrade(f.correct ? "correct" : "incorrect", verdict, (f.hint || (f.correct ? "" : f.tip)) + unsaved);
  ui.grade.dataset.recorded = f.recorded === false ? "false" : "true";
  ui.grade.dataset.jobId = f.job_id;
  say({ title: f.correct ? "✓ " + f.target : "✗ " + f.target, text: f.hint || f.tip || "", ok: true, fields: [] });
  refreshProgress();
});

// ---- progress over time (the store's stats for this learner)
async function refreshProgress() {
  let reply;
  try { reply = await ask("stats"); } catch (e) { return; }
  const s = reply.data || {};
  ui.progress.replaceChildren();
  if (!s.attempts) return;
  const line = document.createElement("span");
  line.textContent = `${s.attempts} attempts · ${Math.round(s.accuracy * 100)}% correct · streak ${s.streak} (best ${s.best_streak})`;
  const days = document.createElement("span");
  days.className = "days";
  days.title = "Correct answers per day, last 7 days";
  for (const d of s.days || []) {
    const bar = document.createElement("span");
    bar.style.height = `${Math.max(8, Math.round((100 * d.correct) / Math.max(1, d.attempts)))}%`;
    bar.title = `${d.day}: ${d.correct}/${d.attempts}`;
    days.append(bar);
  }
  ui.progress.append(line, days);
}

say({ title: "Hi!", text: "Pick a target and press Check, or ask me: help, practice 4, hint q, stats.", ok: true });
refreshProgress();
