// The page around the piano roll: the daemon's event stream, the facts in the header,
// the live settings (sent through the same Controller as `antiphon set`), and the takes.
(function () {
  "use strict";

  const TONICS = ["C", "C#", "Db", "D", "Eb", "E", "F", "F#", "Gb", "G", "Ab", "A", "Bb", "B"];
  const MODES = ["major", "minor", "harmonic-minor", "dorian", "phrygian", "lydian",
    "mixolydian", "aeolian", "locrian", "ionian", "pentatonic", "minor-pentatonic", "blues"];
  const SLIDERS = ["temperature", "top_p", "candidates"];
  const HANDS_OFF_MS = 2500;    // a control the user just moved is not reset by the status
  const TAKES_EVERY_MS = 60000;  // the list read again (while the page is in view)
  const TAKES_AFTER_ANSWER_MS = 3000;  // and this long after an answer began
  const TAKES_SHOWN = 24;

  // The token came in the address; the server set a cookie with it, and the address bar
  // need not show it any longer.
  const query = new URLSearchParams(location.search);
  const token = query.get("token") || "";
  if (token) history.replaceState(null, "", location.pathname);
  const headers = token ? { "X-Antiphon-Token": token } : {};
  const withToken = (path) => (token ? `${path}?token=${encodeURIComponent(token)}` : path);

  const $ = (id) => document.getElementById(id);
  const roll = new window.AntiphonPianoRoll($("roll"));
  window.antiphonRoll = Object.freeze({
    notes: () => roll.notes(),
    counts: () => ({ call: roll.count("call"), answer: roll.count("answer") }),
    pedals: () => roll.pedals.map((pedal) => Object.assign({}, pedal)),
    now: () => roll.now(),
  });
  const touched = new Map(); // control id -> when the user last moved it
  let answers = 0;

  function show(id, text) { const node = $(id); if (node.textContent !== text) node.textContent = text; }

  function say(text, bad) {
    const said = $("said");
    said.textContent = text;
    said.classList.toggle("bad", Boolean(bad));
  }

  // -- the stream ---------------------------------------------------------------------
  function connect() {
    const events = new EventSource(withToken("/events"));
    events.addEventListener("open", () => { $("link").dataset.state = "open"; });
    events.addEventListener("error", () => {
      $("link").dataset.state = "lost";
      if (events.readyState === EventSource.CLOSED) {  // refused: a new daemon, a new token
        mode("stopped");
        say("The daemon stopped or started again: open the address it printed.", true);
      }
    });
    events.addEventListener("history", (event) => {
      const history = JSON.parse(event.data);
      roll.clear();
      roll.syncClock(history.t);
      takeRows(history.rows);
    });
    events.addEventListener("take", (event) => takeRows(JSON.parse(event.data)));
    events.addEventListener("status", (event) => status(JSON.parse(event.data)));
  }

  function takeRows(rows) {
    roll.ingest(rows);
    for (const row of rows) {
      if (row.kind === "tempo") { show("bpm", row.bpm.toFixed(1)); show("clock", row.clock); }
      else if (row.kind === "answer_start") {
        show("key", window.AntiphonPianoRoll.shortKey(row.keeps) || "–");
        $("key").title = row.keeps || "";  // the whole of what the answer kept
        answers += 1;
        refreshTakesSoon();  // the take being recorded counts one more exchange
      }
      else if (row.kind === "settings") settings(row);
      else if (row.kind === "end") { mode("stopped"); refreshTakes(); }
    }
  }

  function mode(name) {
    const pill = $("mode");
    pill.dataset.mode = name;
    show("mode", name);
  }

  function status(now) {
    roll.syncClock(now.t);
    if (!now.ok) { mode("no status"); return; }
    if (now.mode) mode(now.mode);
    if (now.tempo) {
      show("bpm", Number(now.tempo.bpm).toFixed(1));
      show("clock", now.tempo.source || "–");
    }
    if (now.model) {
      show("model-name", now.model.name + (now.model.family ? ` · ${now.model.family}` : ""));
      pick($("model"), now.model.name);
    }
    if (now.counters) show("answers", String(now.counters.answers ?? answers));
    if (now.settings) settings(now.settings);
  }

  // -- the controls -------------------------------------------------------------------
  function settings(values) {
    for (const name of SLIDERS) {
      if (values[name] === undefined || recentlyTouched(name)) continue;
      $(name).value = values[name];
      show(`${name}-value`, String(values[name]));
    }
    if (values.texture !== undefined && !recentlyTouched("texture")) $("texture").value = values.texture;
    if (values.scale !== undefined && !recentlyTouched("scale")) {
      showScale(values.scale === null ? "chromatic" : values.scale);  // none: any pitch
    }
    if (values.model && !recentlyTouched("model")) pick($("model"), values.model);
  }

  function recentlyTouched(name) { return Date.now() - (touched.get(name) || 0) < HANDS_OFF_MS; }

  function showScale(scale) {
    const words = (scale || "auto").split(/\s+/);
    if (words.length === 2) { pick($("scale-tonic"), words[0]); pick($("scale-mode"), words[1]); }
    else pick($("scale-tonic"), words[0].toLowerCase());
    $("scale-mode").disabled = words.length !== 2;
  }

  function pick(select, value) {
    if (value === undefined || value === null) return;
    if (![...select.options].some((option) => option.value === value)) {
      select.add(new Option(value, value));
    }
    select.value = value;
  }

  async function post(path, body, what) {
    try {
      const response = await fetch(path, {
        method: "POST", headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify(body), credentials: "same-origin",
      });
      const answer = await response.json();
      if (answer.ok) say(`${what} ✓`);
      else say(`${what}: ${answer.error}`, true);
      return answer;
    } catch (error) {
      say(`${what}: ${error}`, true);
      return { ok: false };
    }
  }

  function setOption(key, value) {
    touched.set(key, Date.now());
    return post("/api/set", { key, value }, `${key.replace("_", "-")} = ${value}`);
  }

  function wireControls() {
    for (const name of SLIDERS) {
      const slider = $(name);
      let waiting = null;
      slider.addEventListener("input", () => {
        touched.set(name, Date.now());
        show(`${name}-value`, slider.value);
        clearTimeout(waiting);
        waiting = setTimeout(() => setOption(name, Number(slider.value)), 180);
      });
      slider.addEventListener("change", () => {
        clearTimeout(waiting);
        setOption(name, Number(slider.value));
      });
    }
    $("texture").addEventListener("change", (event) => setOption("texture", event.target.value));
    const tonic = $("scale-tonic"), scaleMode = $("scale-mode");
    tonic.add(new Option("auto", "auto"));
    tonic.add(new Option("chromatic", "chromatic"));
    for (const name of TONICS) tonic.add(new Option(name, name));
    for (const name of MODES) scaleMode.add(new Option(name, name));
    const sendScale = () => {
      const fixed = tonic.value === "auto" || tonic.value === "chromatic";
      scaleMode.disabled = fixed;
      setOption("scale", fixed ? tonic.value : `${tonic.value} ${scaleMode.value}`);
    };
    tonic.addEventListener("change", sendScale);
    scaleMode.addEventListener("change", sendScale);
    $("model").addEventListener("change", async (event) => {
      touched.set("model", Date.now());
      say(`loading ${event.target.value}…`);
      await post("/api/model", { name: event.target.value }, `model ${event.target.value}`);
    });
  }

  async function loadModels() {
    try {
      const response = await fetch("/api/models", { headers, credentials: "same-origin" });
      const names = await response.json();
      const select = $("model"), current = select.value;
      for (const name of names) pick(select, name);
      if (current) select.value = current;
    } catch (error) {
      say(`the model list: ${error}`, true);
    }
  }

  // -- the takes ----------------------------------------------------------------------
  function duration(seconds) {
    const whole = Math.round(seconds);
    return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
  }

  function takeItem(take) {
    const item = document.createElement("li");
    item.className = "take";
    const head = document.createElement("div");
    head.className = "take-head";
    const when = document.createElement("strong");
    when.textContent = take.started ? new Date(take.started).toLocaleString(undefined,
      { dateStyle: "medium", timeStyle: "short" }) : take.id;
    const facts = document.createElement("span");
    facts.className = "muted";
    const models = take.models.length ? ` · ${take.models.join(", ")}` : "";
    const answered = `${take.exchanges} answer${take.exchanges === 1 ? "" : "s"}`;
    facts.textContent = `${duration(take.seconds)} · ${answered}${models}`;
    const link = document.createElement("a");
    link.href = withToken(`/api/sessions/${encodeURIComponent(take.id)}/take.mid`);
    link.download = `antiphon-${take.id}.mid`;
    link.textContent = "take.mid";
    link.className = "download";
    head.append(when, facts, link);
    if (!take.finished) {  // drawn once it is over: no drawing while the daemon plays
      const note = document.createElement("p");
      note.className = "muted recording";
      note.textContent = "recording…";
      item.append(head, note);
      return item;
    }
    const picture = document.createElement("img");
    picture.loading = "lazy";
    picture.alt = `piano roll of take ${take.id}`;
    picture.src = withToken(`/api/sessions/${encodeURIComponent(take.id)}/roll.png`);
    picture.addEventListener("error", () => picture.replaceWith(
      Object.assign(document.createElement("p"), { className: "muted", textContent: "no picture" })));
    item.append(head, picture);
    return item;
  }

  // Once the answer has had time to reach the journal; one read for a burst of answers.
  let takesSoon = null;
  function refreshTakesSoon() {
    if (takesSoon !== null) return;
    takesSoon = setTimeout(() => { takesSoon = null; refreshTakes(); }, TAKES_AFTER_ANSWER_MS);
  }

  async function refreshTakes() {
    try {
      const response = await fetch("/api/sessions", { headers, credentials: "same-origin" });
      const answer = await response.json();
      const list = $("takes"), takes = answer.takes || [];
      list.replaceChildren(...takes.slice(0, TAKES_SHOWN).map(takeItem));
      const more = takes.length - TAKES_SHOWN;
      $("takes-empty").textContent = answer.recording === false
        ? "The recorder is off (--no-record)."
        : (answer.error || (more > 0 ? `and ${more} older (antiphon sessions list)` : "No takes yet."));
      $("takes-empty").hidden = takes.length > 0 && more <= 0;
    } catch (error) {
      $("takes-empty").textContent = `The takes: ${error}`;
    }
  }

  wireControls();
  connect();
  loadModels();
  refreshTakes();
  $("refresh").addEventListener("click", refreshTakes);
  setInterval(() => { if (document.visibilityState === "visible") refreshTakes(); }, TAKES_EVERY_MS);
})();
