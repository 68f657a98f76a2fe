// Everystage demo page: a Telegram-like chat over the sandbox's control API. No build step.
"use strict";

const BOT_ID = 7000000001;
const SIMULATED_VOICE = "T2dnUwBkZW1vLXNpbXVsYXRlZC12b2ljZS1ub3Rl"; // "OggS\0demo-simulated-voice-note"
const $ = (id) => document.getElementById(id);

// One chat on screen: the participant's (the "Chat" tab) or the coordinators' chat.
function makeView(ids) {
  return {
    panel: $(ids.panel),
    log: $(ids.log),             // the scrolling role="log" box
    list: $(ids.list),           // its <ol>
    toastBox: $(ids.toast),
    box: $(ids.box),             // the message box
    chatId: null,
    userId: null,                // who writes and presses (needed in a group)
    seq: 0,                      // last event seen
    nodes: new Map(),            // message_id -> <li>
    poll: null,                  // AbortController of the running long-poll
    toastTimer: null,
  };
}

// The script is deferred: the page's elements exist when it runs.
const chatView = makeView({
  panel: "phone", log: "messages-log", list: "messages", toast: "toast", box: "composer-text",
});
const coordView = makeView({
  panel: "coordinators", log: "coord-log", list: "coord-messages", toast: "coord-toast",
  box: "coord-text",
});
const state = { people: [] };

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

function fileUrl(fileId) {
  return `/sandbox/files/${encodeURIComponent(fileId)}`;
}

function bodyOf(message) {
  const parts = document.createDocumentFragment();
  const replied = message.reply_to_message;
  if (replied) {
    const quote = document.createElement("div");
    quote.className = "reply-quote";
    const who = replied.from?.id === BOT_ID ? "Everystage" : (replied.from?.first_name || "");
    const said = (replied.text ?? replied.caption ?? "").split("\n")[0];
    quote.textContent = `↩ ${who}: ${said.length > 60 ? said.slice(0, 59) + "…" : said}`;
    parts.append(quote);
  }
  if (message.voice && message.from?.id === BOT_ID) {
    // A question read aloud (audio = "..." in the config): the recording itself, to play.
    const player = document.createElement("audio");
    player.className = "voice-prompt";
    player.controls = true;
    player.preload = "none";
    player.src = fileUrl(message.voice.file_id);
    parts.append(player);
  } else if (message.voice) {
    const voice = document.createElement("div");
    voice.className = "voice-note";
    voice.textContent = `▶ Voice note · ${message.voice.duration || 0} s`;
    parts.append(voice);
  }
  if (message.document) {
    const name = message.document.file_name || "file";
    const link = document.createElement("a");
    link.className = "document";
    link.href = fileUrl(message.document.file_id);
    link.download = name;
    link.textContent = `⇩ ${name} (download)`;
    parts.append(link);
  }
  if (message.sticker) parts.append(`Sticker ${message.sticker.emoji || ""}`);
  if (message.photo?.length) {
    const largest = message.photo[message.photo.length - 1];
    const link = document.createElement("a");
    link.className = "photo";
    link.href = fileUrl(largest.file_id);
    link.target = "_blank";
    link.rel = "noopener";
    const image = document.createElement("img");
    image.src = link.href;
    image.alt = message.caption || "Photo";
    image.width = largest.width;
    image.height = largest.height;
    link.append(image);
    parts.append(link);
  }
  const text = message.text ?? message.caption;
  if (text) {
    const p = document.createElement("p");
    p.className = "text";
    p.dir = "auto"; // Arabic reads right to left, English left to right, each by its own text
    p.textContent = text;
    parts.append(p);
  }
  return parts;
}

function keyboardOf(view, message) {
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
        el.addEventListener("click", () => press(view, message.message_id, button.callback_data, el));
      }
      el.className = "key";
      el.dir = "auto";
      el.textContent = button.text;
      line.append(el);
    }
    board.append(line);
  }
  return board;
}

function renderMessage(view, message) {
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
  const board = keyboardOf(view, message);
  if (board) li.append(board);
  return li;
}

function upsert(view, message) {
  const fresh = renderMessage(view, message);
  const old = view.nodes.get(message.message_id);
  view.nodes.set(message.message_id, fresh);
  if (old) {
    const hadFocus = old.contains(document.activeElement);
    const scrolled = view.log.scrollTop;
    old.replaceWith(fresh);
    markKeyboards(view);
    view.log.scrollTop = scrolled; // an edit (a ticked option) must not move what was tapped
    if (hadFocus) focusLatestKeyboard(view);
    return;
  }
  view.list.append(fresh);
  markKeyboards(view);
  reveal(view, fresh);
  if (message.reply_markup && !view.panel.hidden && document.activeElement === document.body) {
    focusLatestKeyboard(view); // keep keyboard users next to the buttons they need
  }
}

// Only the newest keyboard is in the Tab order; older ones can still be tapped.
function markKeyboards(view) {
  const boards = [...view.list.querySelectorAll(".keyboard")];
  boards.forEach((board, index) => {
    const current = index === boards.length - 1;
    board.classList.toggle("old", !current);
    for (const key of board.querySelectorAll(".key")) {
      if (current) key.removeAttribute("tabindex");
      else key.tabIndex = -1;
    }
  });
}

function latestKeys(view) {
  return view.list.querySelectorAll(".keyboard:not(.old) .key:not(:disabled)");
}

// Show the newest message. One taller than the chat is shown from its top if its text and its
// first row of buttons fit; else the end of its text (where the question is) above that row.
function reveal(view, li) {
  const log = view.log;
  const room = log.clientHeight;
  if (view.panel.hidden || li.offsetHeight <= room - 8) {
    log.scrollTop = log.scrollHeight;
    return;
  }
  const logTop = log.getBoundingClientRect().top;
  const bubble = li.querySelector(".bubble");
  const row = li.querySelector(".keyboard-row");
  const rowHeight = row ? row.offsetHeight + 8 : 0;
  if (bubble.offsetHeight + rowHeight <= room - 8) {
    log.scrollTop += li.getBoundingClientRect().top - logTop - 4;
  } else {
    const below = row ? row.getBoundingClientRect().bottom : bubble.getBoundingClientRect().bottom;
    log.scrollTop += below - logTop - room + 8;
  }
}

function focusLatestKeyboard(view) {
  const keys = latestKeys(view);
  if (keys.length) keys[0].focus();
  else view.box.focus();
}

// Where someone continues in a chat: its buttons, else Start, else the message box.
function focusChat(view) {
  const keys = latestKeys(view);
  if (keys.length) keys[0].focus();
  else if (view === chatView && !$("start-bar").hidden) $("start-button").focus();
  else view.box.focus();
}

let peopleTimer = null;
function applyEvent(view, event) {
  if (event.kind === "message" || event.kind === "edited") {
    upsert(view, event.message);
    if (view === chatView) {
      updateStartBar();
      clearTimeout(peopleTimer);
      peopleTimer = setTimeout(() => refreshPeople().catch(() => {}), 300);
    }
  } else if (event.kind === "deleted") {
    view.nodes.get(event.message_id)?.remove();
    view.nodes.delete(event.message_id);
    markKeyboards(view);
  } else if (event.kind === "chat_action" && view === chatView) {
    showTyping();
  } else if (event.kind === "callback_answered" && event.callback_query.text) {
    toast(view, event.callback_query.text, event.callback_query.show_alert);
  }
}

let typingTimer = null;
function showTyping() {
  $("chat-status").textContent = "typing…";
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => ($("chat-status").textContent = "bot"), 4000);
}

// A button's answer (Telegram's toast), shown in the chat where it was pressed.
function toast(view, text, long = false) {
  const box = view.toastBox;
  box.textContent = text;
  box.classList.toggle("alert", long);
  box.hidden = false;
  clearTimeout(view.toastTimer);
  view.toastTimer = setTimeout(() => (box.hidden = true), long ? 7000 : 3500);
}

function currentView() {
  return coordView.panel.hidden ? chatView : coordView;
}

function updateStartBar() {
  $("start-bar").hidden = chatView.nodes.size > 0;
}

// ---------------------------------------------------------------------------------------
// A chat: load it, then long-poll its events.

async function openView(view, chatId) {
  view.poll?.abort();
  view.chatId = chatId;
  view.nodes = new Map();
  view.list.replaceChildren();
  const info = await api("GET", "/sandbox/");
  view.seq = info.last_seq;
  for (const message of await api("GET", `/sandbox/chats/${chatId}/messages`)) {
    upsert(view, message);
  }
  listen(view, chatId);
  loadMenu(view).catch(() => {});
}

async function listen(view, chatId) {
  const controller = new AbortController();
  view.poll = controller;
  while (!controller.signal.aborted) {
    try {
      const response = await fetch(
        `/sandbox/chats/${chatId}/events?after=${view.seq}&timeout=25`,
        { signal: controller.signal },
      );
      const data = await response.json();
      if (controller.signal.aborted) return;
      for (const event of data.events || []) {
        view.seq = Math.max(view.seq, event.seq);
        applyEvent(view, event);
      }
      if (!data.events?.length) view.seq = Math.max(view.seq, data.last_seq || 0);
    } catch (error) {
      if (controller.signal.aborted) return;
      console.warn("chat events:", error);
      await new Promise((resolve) => setTimeout(resolve, 1000)); // the server may be restarting
    }
  }
}

async function openChat(chatId) {
  await openView(chatView, chatId);
  updateStartBar();
  $("who").value = String(chatId);
}

async function press(view, messageId, data, el) {
  el.disabled = true;
  const body = { callback_data: data };
  if (view.userId !== null) body.user_id = view.userId;
  try {
    await api("POST", `/sandbox/chats/${view.chatId}/messages/${messageId}/press`, body);
  } catch (error) {
    toast(view, error.message);
    el.disabled = false;
  }
}

function latestBotMessage(view) {
  let latest = null;
  for (const [id, li] of view.nodes) {
    if (li.classList.contains("bot") && (latest === null || id > latest)) latest = id;
  }
  return latest;
}

async function sendText(view, text) {
  if (!view.chatId || !text.trim()) return;
  const body = { text };
  if (view.userId !== null) {
    body.user_id = view.userId;
    // In a group the bot only sees commands and replies to it (privacy mode): reply to it.
    const replyTo = latestBotMessage(view);
    if (!text.startsWith("/") && replyTo !== null) body.reply_to_message_id = replyTo;
  }
  await api("POST", `/sandbox/chats/${view.chatId}/messages`, body);
}

async function sendVoice(base64, mime, duration) {
  if (!chatView.chatId) return;
  await api("POST", `/sandbox/chats/${chatView.chatId}/voice`, {
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

// The command menu: what the bot published for this chat (setMyCommands), as Telegram shows it.
async function loadMenu(view) {
  const commands = await api("GET", `/demo/chats/${view.chatId}/menu`);
  const list = view.panel.querySelector(".menu-list");
  list.replaceChildren(...commands.map((command) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "command";
    const name = document.createElement("span");
    name.className = "command-name";
    name.textContent = `/${command.command}`;
    const about = document.createElement("span");
    about.className = "command-about";
    about.textContent = command.description;
    button.append(name, " ", about);
    button.addEventListener("click", async () => {
      closeMenu(view);
      view.box.focus();
      try { await sendText(view, `/${command.command}`); } catch (e) { toast(view, e.message); }
    });
    li.append(button);
    return li;
  }));
}

function closeMenu(view) {
  view.panel.querySelector(".menu").open = false;
}

// ---------------------------------------------------------------------------------------
// Participants, presets, config status, coordinators.

async function refreshPeople(selectId) {
  const people = await api("GET", "/demo/participants");
  const select = $("who");
  const current = selectId ?? chatView.chatId;
  if (JSON.stringify(people) === JSON.stringify(state.people) && selectId === undefined) return;
  state.people = people;
  select.replaceChildren(...state.people.map((p) => {
    const option = document.createElement("option");
    option.value = String(p.chat_id);
    const where = p.checkin_in_progress ? `, in ${p.checkin_in_progress}` : "";
    const consent = p.consented ? "agreed" : (p.status === "stopped" ? "stopped" : "not agreed yet");
    const phone = p.language_code ? ` · ${p.language_code}` : "";
    option.textContent = `${p.first_name}${phone} · ${consent}${where}`;
    return option;
  }));
  if (current) select.value = String(current);
}

async function addPerson(preset) {
  const button = preset ? $("preset-start") : $("add-person");
  button.disabled = true;
  try {
    const language = $("phone-language").value;
    const body = { ...(preset || {}), ...(language ? { language_code: language } : {}) };
    const person = await api("POST", "/demo/participants", body);
    await refreshPeople(person.id);
    selectTab(true);
    await openChat(person.id);
    focusChat(chatView); // keyboard users go straight on in the new participant's chat
    toast(chatView, `Now chatting as ${person.first_name}`);
  } catch (error) {
    toast(chatView, error.message);
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
  // A new person's phone language: the bot suggests it at /start when the project offers it.
  const phone = $("phone-language");
  const before = phone.value;
  phone.replaceChildren(...data.project.languages.map(({ code, name }) => {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = name;
    option.lang = code;
    return option;
  }));
  $("phone-row").hidden = data.project.languages.length < 2;
  if (before && data.project.languages.some(({ code }) => code === before)) phone.value = before;
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
    const reloaded = lastGeneration !== -1;
    lastGeneration = data.config.generation;
    fillPresets(data);
    if (reloaded) {
      // The bot publishes its command lists again after a reload.
      setTimeout(() => {
        for (const view of [chatView, coordView]) if (view.chatId) loadMenu(view).catch(() => {});
      }, 500);
    }
  }
  await showCoordinators(data.coordinators);
}

async function showCoordinators(coord) {
  $("coord-note").textContent = coord.note;
  $("coord-note").hidden = !coord.note;
  if (!coord.configured) return;
  coordView.userId = coord.coordinator.id;
  $("coord-status").textContent = `you write as ${coord.coordinator.name}`;
  if (coord.chat_id !== coordView.chatId) await openView(coordView, coord.chat_id);
}

function selectTab(chat) {
  $("tab-chat").setAttribute("aria-selected", String(chat));
  $("tab-coord").setAttribute("aria-selected", String(!chat));
  $("tab-chat").tabIndex = chat ? 0 : -1;
  $("tab-coord").tabIndex = chat ? -1 : 0;
  chatView.panel.hidden = !chat;
  coordView.panel.hidden = chat;
  document.querySelector(".skip").href = `#${currentView().box.id}`;
  const view = currentView();
  view.log.scrollTop = view.log.scrollHeight;
}

// ---------------------------------------------------------------------------------------
// Wiring.

function wireComposer(view, form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = view.box;
    const text = box.value;
    box.value = "";
    try { await sendText(view, text); } catch (error) { toast(view, error.message); box.value = text; }
  });
  view.box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  const menu = view.panel.querySelector(".menu");
  menu.addEventListener("toggle", () => {
    if (menu.open) loadMenu(view).catch((e) => toast(view, e.message));
  });
  for (const details of view.panel.querySelectorAll("details")) {
    details.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      details.open = false;
      details.querySelector("summary").focus();
    });
  }
}

function wire() {
  wireComposer(chatView, $("composer"));
  wireComposer(coordView, $("coord-composer"));
  $("start-button").addEventListener("click", () =>
    sendText(chatView, "/start").catch((e) => toast(chatView, e.message)));
  $("voice-sim").addEventListener("click", async () => {
    document.querySelector(".voice").open = false;
    try { await sendVoice(SIMULATED_VOICE, "audio/ogg", 3); } catch (e) { toast(chatView, e.message); }
  });
  $("voice-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    document.querySelector(".voice").open = false;
    if (!file) return;
    try { await sendVoice(await fileToBase64(file), file.type || "audio/ogg", 5); }
    catch (e) { toast(chatView, e.message); }
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

main().catch((error) => toast(chatView, `Could not start the page: ${error.message}`, true));
