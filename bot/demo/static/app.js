// Everystage demo page: a Telegram-like chat over the sandbox's control API. No build step.
"use strict";

const BOT_ID = 7000000001;
const SIMULATED_VOICE = "T2dnUwBkZW1vLXNpbXVsYXRlZC12b2ljZS1ub3Rl"; // "OggS\0demo-simulated-voice-note"
const $ = (id) => document.getElementById(id);

const state = {
  chatId: null,        // the participant whose chat is shown
  seq: 0,              // last event seen
  nodes: new Map(),    // message_id -> <li>
  poll: null,          // AbortController of the running long-poll
  people: [],
  coordChat: null,
  coordSeq: 0,
};

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// ---------------------------------------------------------------------------------------
// Rendering messages.

function timeOf(message) {
  const date = new Date(message.date * 1000);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function bodyOf(message) {
  const parts = document.createDocumentFragment();
  if (message.voice) {
    const voice = document.createElement("div");
    voice.className = "voice-note";
    voice.textContent = `▶ Voice note · ${message.voice.duration || 0} s`;
    parts.append(voice);
  }
  if (message.document) {
    const link = document.createElement("a");
    link.className = "document";
    link.href = `/sandbox/files/${encodeURIComponent(message.document.file_id)}`;
    link.download = message.document.file_name || "file";
    link.textContent = `⇩ ${message.document.file_name || "file"} (download)`;
    parts.append(link);
  }
  if (message.sticker) parts.append(`Sticker ${message.sticker.emoji || ""}`);
  if (message.photo) parts.append("Photo");
  const text = message.text ?? message.caption;
  if (text) {
    const p = document.createElement("p");
    p.className = "text";
    p.textContent = text;
    parts.append(p);
  }
  return parts;
}

function keyboardOf(message, chatId) {
  const rows = message.reply_markup?.inline_keyboard || [];
  if (!rows.length) return null;
  const board = document.createElement("div");
  board.className = "keyboard";
  board.setAttribute("role", "group");
  board.setAttribute("aria-label", "Answer buttons");
  for (const row of rows) {
    const line = document.createElement("div");
    line.className = "keyboard-row";
    for (const button of row) {
      let el;
      if (button.url) {
        el = document.createElement("a");
        el.href = button.url;
        el.target = "_blank";
        el.rel = "noopener";
      } else {
        el = document.createElement("button");
        el.type = "button";
        el.addEventListener("click", () => press(chatId, message.message_id, button.callback_data, el));
      }
      el.className = "key";
      el.textContent = button.text;
      line.append(el);
    }
    board.append(line);
  }
  return board;
}

function renderMessage(message, chatId) {
  const li = document.createElement("li");
  const mine = message.from?.id !== BOT_ID;
  li.className = `msg ${mine ? "me" : "bot"}`;
  li.dataset.messageId = message.message_id;
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  const who = document.createElement("span");
  who.className = "visually-hidden";
  who.textContent = mine ? `${message.from?.first_name || "You"}: ` : "Everystage: ";
  bubble.append(who, bodyOf(message));
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = (message.edit_date ? "edited " : "") + timeOf(message);
  bubble.append(meta);
  li.append(bubble);
  const board = keyboardOf(message, chatId);
  if (board) li.append(board);
  return li;
}

function upsert(list, nodes, message, chatId) {
  const fresh = renderMessage(message, chatId);
  const old = nodes.get(message.message_id);
  if (old) {
    const hadFocus = old.contains(document.activeElement);
    old.replaceWith(fresh);
    if (hadFocus) focusLatestKeyboard();
  } else {
    list.append(fresh);
    if (message.reply_markup && !list.contains(document.activeElement)) {
      // keep keyboard users next to the buttons they need, unless they are typing
      if (document.activeElement === document.body) focusLatestKeyboard();
    }
  }
  nodes.set(message.message_id, fresh);
  list.scrollTop = list.scrollHeight;
}

function focusLatestKeyboard() {
  const keys = $("messages").querySelectorAll(".msg:last-child .key");
  if (keys.length) keys[0].focus();
  else $("composer-text").focus();
}

let peopleTimer = null;
function applyEvent(event) {
  if (event.kind === "message" || event.kind === "edited") {
    upsert($("messages"), state.nodes, event.message, state.chatId);
    updateStartBar();
    clearTimeout(peopleTimer);
    peopleTimer = setTimeout(() => refreshPeople().catch(() => {}), 300);
  } else if (event.kind === "deleted") {
    state.nodes.get(event.message_id)?.remove();
    state.nodes.delete(event.message_id);
  } else if (event.kind === "chat_action") {
    showTyping();
  } else if (event.kind === "callback_answered" && event.callback_query.text) {
    toast(event.callback_query.text);
  }
}

let typingTimer = null;
function showTyping() {
  $("chat-status").textContent = "typing…";
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => ($("chat-status").textContent = "bot"), 4000);
}

let toastTimer = null;
function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), 3500);
}

function updateStartBar() {
  $("start-bar").hidden = state.nodes.size > 0;
}

// ---------------------------------------------------------------------------------------
// The participant's chat: load, then long-poll events.

async function openChat(chatId) {
  state.poll?.abort();
  state.chatId = chatId;
  state.nodes = new Map();
  const list = $("messages");
  list.replaceChildren();
  const info = await api("GET", "/sandbox/");
  state.seq = info.last_seq;
  for (const message of await api("GET", `/sandbox/chats/${chatId}/messages`)) {
    upsert(list, state.nodes, message, chatId);
  }
  updateStartBar();
  $("who").value = String(chatId);
  listen(chatId);
}

async function listen(chatId) {
  const controller = new AbortController();
  state.poll = controller;
  while (!controller.signal.aborted) {
    try {
      const response = await fetch(
        `/sandbox/chats/${chatId}/events?after=${state.seq}&timeout=25`,
        { signal: controller.signal },
      );
      const data = await response.json();
      if (controller.signal.aborted) return;
      for (const event of data.events || []) {
        state.seq = Math.max(state.seq, event.seq);
        applyEvent(event);
      }
      if (!data.events?.length) state.seq = Math.max(state.seq, data.last_seq || 0);
    } catch (error) {
      if (controller.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // the server may be restarting
    }
  }
}

async function press(chatId, messageId, data, el) {
  el.disabled = true;
  try {
    await api("POST", `/sandbox/chats/${chatId}/messages/${messageId}/press`, { callback_data: data });
  } catch (error) {
    toast(error.message);
    el.disabled = false;
  }
}

async function sendText(text) {
  if (!state.chatId || !text.trim()) return;
  await api("POST", `/sandbox/chats/${state.chatId}/messages`, { text });
}

async function sendVoice(base64, mime, duration) {
  if (!state.chatId) return;
  await api("POST", `/sandbox/chats/${state.chatId}/voice`, {
    data_base64: base64, mime_type: mime, duration,
  });
}

function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// ---------------------------------------------------------------------------------------
// Participants, presets, config status, coordinators.

async function refreshPeople(selectId) {
  const people = await api("GET", "/demo/participants");
  const select = $("who");
  const current = selectId ?? state.chatId;
  if (JSON.stringify(people) === JSON.stringify(state.people) && selectId === undefined) return;
  state.people = people;
  select.replaceChildren(...state.people.map((p) => {
    const option = document.createElement("option");
    option.value = String(p.chat_id);
    const where = p.checkin_in_progress ? `, in ${p.checkin_in_progress}` : "";
    const consent = p.consented ? "agreed" : (p.status === "stopped" ? "stopped" : "not agreed yet");
    option.textContent = `${p.first_name} · ${consent}${where}`;
    return option;
  }));
  if (current) select.value = String(current);
}

async function addPerson(preset) {
  const button = preset ? $("preset-start") : $("add-person");
  button.disabled = true;
  try {
    const person = await api("POST", "/demo/participants", preset || {});
    await refreshPeople(person.id);
    await openChat(person.id);
    toast(`Now chatting as ${person.first_name}`);
  } catch (error) {
    toast(error.message);
  } finally {
    button.disabled = false;
  }
}

function fillPresets(data) {
  const select = $("preset-at");
  const chosen = select.value;
  const options = [];
  for (const checkin of data.checkins) {
    options.push([`checkin:${checkin.id}`, `check-in “${checkin.title}” (${checkin.id})`]);
  }
  for (const stage of data.project.stages) options.push([`stage:${stage}`, `stage: ${stage}`]);
  select.replaceChildren(...options.map(([value, label]) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    return option;
  }));
  if (chosen && options.some(([value]) => value === chosen)) select.value = chosen;
}

function baseName(path) {
  return path.split(/[\\/]/).pop();
}

function showConfig(config) {
  $("config-ok").title = config.path;
  const errors = $("config-errors");
  if (config.ok) {
    errors.hidden = true;
    const reloaded = config.generation ? ` Reloaded ${config.generation}×.` : "";
    $("config-ok").textContent = `Config ${baseName(config.path)}: OK, watching for changes.${reloaded}`;
  } else {
    $("config-ok").textContent = `Config ${baseName(config.path)}: not reloaded.`;
    $("config-error-list").replaceChildren(...config.errors.map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }));
    errors.hidden = false;
  }
}

let lastGeneration = -1;
async function refreshState() {
  const data = await api("GET", "/demo/state");
  $("project").textContent = `${data.project.name} · stage: ${data.project.stage}`;
  showConfig(data.config);
  if (data.config.generation !== lastGeneration) {
    lastGeneration = data.config.generation;
    fillPresets(data);
  }
  showCoordinators(data.coordinators);
}

async function showCoordinators(coord) {
  $("coord-note").textContent = coord.note;
  $("coord-note").hidden = !coord.note;
  if (!coord.configured || coord.chat_id === state.coordChat) return;
  state.coordChat = coord.chat_id;
  const nodes = new Map();
  const list = $("coord-messages");
  list.replaceChildren();
  for (const message of await api("GET", `/sandbox/chats/${coord.chat_id}/messages`)) {
    upsert(list, nodes, message, coord.chat_id);
  }
  while (state.coordChat === coord.chat_id) {
    try {
      const data = await api("GET", `/sandbox/chats/${coord.chat_id}/events?after=${state.coordSeq}&timeout=25`);
      for (const event of data.events) {
        state.coordSeq = Math.max(state.coordSeq, event.seq);
        if (event.message) upsert(list, nodes, event.message, coord.chat_id);
      }
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function selectTab(chat) {
  $("tab-chat").setAttribute("aria-selected", String(chat));
  $("tab-coord").setAttribute("aria-selected", String(!chat));
  $("tab-chat").tabIndex = chat ? 0 : -1;
  $("tab-coord").tabIndex = chat ? -1 : 0;
  $("phone").hidden = !chat;
  $("coordinators").hidden = chat;
}

// ---------------------------------------------------------------------------------------
// Wiring.

function wire() {
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("composer-text");
    const text = box.value;
    box.value = "";
    try { await sendText(text); } catch (error) { toast(error.message); box.value = text; }
  });
  $("composer-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("start-button").addEventListener("click", () => sendText("/start").catch((e) => toast(e.message)));
  $("voice-sim").addEventListener("click", async () => {
    document.querySelector(".voice").open = false;
    try { await sendVoice(SIMULATED_VOICE, "audio/ogg", 3); } catch (e) { toast(e.message); }
  });
  $("voice-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    document.querySelector(".voice").open = false;
    if (!file) return;
    try { await sendVoice(await fileToBase64(file), file.type || "audio/ogg", 5); }
    catch (e) { toast(e.message); }
  });
  document.querySelector(".voice").addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.currentTarget.open = false;
    event.currentTarget.querySelector("summary").focus();
  });
  $("who").addEventListener("change", (event) => openChat(Number(event.target.value)));
  $("add-person").addEventListener("click", () => addPerson(null));
  $("preset").addEventListener("submit", (event) => {
    event.preventDefault();
    const [kind, value] = $("preset-at").value.split(/:(.*)/s);
    addPerson(kind === "stage" ? { stage: value } : { checkin: value });
  });
  $("tab-chat").addEventListener("click", () => selectTab(true));
  $("tab-coord").addEventListener("click", () => selectTab(false));
  document.querySelector("[role=tablist]").addEventListener("keydown", (event) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    const toChat = $("tab-chat").getAttribute("aria-selected") !== "true";
    selectTab(toChat);
    (toChat ? $("tab-chat") : $("tab-coord")).focus();
  });
}

async function main() {
  wire();
  await refreshState();
  await refreshPeople();
  if (!state.people.length) {
    await api("POST", "/demo/participants", {});
    await refreshPeople();
  }
  await openChat(state.people[0].chat_id);
  document.body.dataset.ready = "true";
  setInterval(() => refreshState().catch(() => {}), 1500);
  setInterval(() => refreshPeople().catch(() => {}), 3000);
}

main().catch((error) => toast(`Could not start the page: ${error.message}`));
