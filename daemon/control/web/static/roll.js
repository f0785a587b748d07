// The live piano roll: the call's and the answer's notes on a canvas, scrolling with the
// take's time (now at the right), pitch upwards, beat and bar lines from the tempo.
// Fed with the take events' JSON rows ({"t", "kind", "msg"} and the others' details);
// window.antiphonRoll reads what it holds (for tests and curious users), without pixels.
(function () {
  "use strict";

  const SHOWN_SECONDS = 12;       // the past the roll shows
  const AHEAD_SECONDS = 0.6;      // room right of "now"
  const KEPT_SECONDS = 90;        // notes older than this (ended) are forgotten
  const MIN_SPAN = 25;            // semitones shown at least
  const GUTTER = 46;              // the keyboard's width, in CSS pixels
  const COLOURS = { call: "#4fd1c5", answer: "#f6ad55" };
  const BLACK = new Set([1, 3, 6, 8, 10]);

  // The key an answer keeps, short, from the rules it kept as the daemon says them
  // ("melody: one voice; D major (p=0.95, 90% in scale), range 48..79"; "...; no certain
  // key, leaning to D major (p=0.91, key bias 3), ..."): "D major", "≈ D major".
  function shortKey(keeps) {
    const text = String(keeps || "");
    const leaning = /leaning to ([^(;,]+?)\s*\(/.exec(text);
    if (leaning) return `≈ ${leaning[1]}`;
    const named = /(?:^|[;:]\s*)([A-G][#b]?\s+[a-z-]+)\s*(?:\(|,|;|$)/.exec(text);
    if (named) return named[1];
    if (/chromatic/.test(text)) return "chromatic";
    if (/no certain key/.test(text)) return "none certain";
    return text.split(/[;(]/)[0].trim();
  }

  class PianoRoll {
    constructor(canvas) {
      this.canvas = canvas;
      this.context = canvas.getContext("2d");
      this.clear();
      this.low = 55;
      this.high = 79;
      new ResizeObserver(() => this.resize()).observe(canvas);
      this.resize();
      const frame = () => { this.draw(); requestAnimationFrame(frame); };
      requestAnimationFrame(frame);
    }

    clear() {
      this.held = [];            // every note: {role, channel, pitch, velocity, start, end}
      this.sounding = new Map(); // "role channel pitch" -> its note, until released
      this.starts = [];          // answers begun: {t, keeps}
      this.pedals = [];          // sustain pedal held: {role, start, end}
      this.tempo = null;         // {t, bpm}
      this.offset = null;        // take seconds minus performance.now() seconds
      this.ended = null;
    }

    // The take's time now, in seconds (null before anything came).
    now() {
      if (this.offset === null) return null;
      const t = performance.now() / 1000 + this.offset;
      return this.ended === null ? t : Math.min(t, this.ended);
    }

    // The server says the take's seconds now: the clock follows it.
    syncClock(t) {
      if (typeof t !== "number") return;
      const offset = t - performance.now() / 1000;
      if (this.offset === null || Math.abs(offset - this.offset) > 0.25) this.offset = offset;
      else this.offset = Math.max(this.offset, offset);
    }

    ingest(rows) {
      const here = performance.now() / 1000;
      for (const row of rows) {
        if (typeof row.t !== "number") continue;
        // An event reaches us after it happened: its time is a floor for the clock.
        if (this.offset === null || row.t - here > this.offset) this.offset = row.t - here;
        if (row.kind === "call" || row.kind === "answer") this.message(row.kind, row.t, row.msg);
        else if (row.kind === "answer_start") this.starts.push({ t: row.t, keeps: row.keeps || "" });
        else if (row.kind === "tempo") this.tempo = { t: row.t, bpm: row.bpm };
        else if (row.kind === "end") this.end(row.t);
      }
      this.forget();
      this.canvas.dataset.callNotes = String(this.count("call"));
      this.canvas.dataset.answerNotes = String(this.count("answer"));
    }

    message(role, t, msg) {
      if (!Array.isArray(msg) || msg.length < 3) return;
      const status = msg[0] & 0xf0, channel = msg[0] & 0x0f, pitch = msg[1];
      const key = `${role} ${channel} ${pitch}`;
      const on = status === 0x90 && msg[2] > 0;
      const off = status === 0x80 || (status === 0x90 && msg[2] === 0);
      const allOff = status === 0xb0 && (msg[1] === 120 || msg[1] === 123);
      if (on || off) {
        const sounding = this.sounding.get(key);
        if (sounding) { sounding.end = t; this.sounding.delete(key); }
      }
      if (on) {
        const note = { role, channel, pitch, velocity: msg[2], start: t, end: null };
        this.held.push(note);
        this.sounding.set(key, note);
      }
      if (status === 0xb0 && msg[1] === 64) this.pedal(role, t, msg[2] >= 64);
      if (allOff) {
        for (const [held, note] of this.sounding) {
          if (note.role === role && note.channel === channel) {
            note.end = t; this.sounding.delete(held);
          }
        }
      }
    }

    pedal(role, t, down) {
      const held = this.pedals.find((pedal) => pedal.role === role && pedal.end === null);
      if (down && !held) this.pedals.push({ role, start: t, end: null });
      if (!down && held) held.end = t;
    }

    end(t) {
      for (const note of this.sounding.values()) note.end = t;
      this.sounding.clear();
      for (const pedal of this.pedals) if (pedal.end === null) pedal.end = t;
      this.ended = t;
    }

    forget() {
      const now = this.now();
      if (now === null) return;
      const horizon = now - KEPT_SECONDS;
      this.held = this.held.filter((note) => note.end === null || note.end >= horizon);
      this.starts = this.starts.filter((start) => start.t >= horizon);
      this.pedals = this.pedals.filter((pedal) => pedal.end === null || pedal.end >= horizon);
    }

    count(role) { return this.held.filter((note) => note.role === role).length; }

    notes() { return this.held.map((note) => Object.assign({}, note)); }

    resize() {
      const ratio = window.devicePixelRatio || 1;
      const box = this.canvas.getBoundingClientRect();
      this.width = Math.max(200, box.width);
      this.height = Math.max(120, box.height);
      this.canvas.width = Math.round(this.width * ratio);
      this.canvas.height = Math.round(this.height * ratio);
      this.context.setTransform(ratio, 0, 0, ratio, 0, 0);
    }

    // The pitches shown follow what is in view, smoothly.
    fitPitches(shown) {
      let low = 60, high = 72;
      if (shown.length) {
        low = Math.min(...shown.map((note) => note.pitch));
        high = Math.max(...shown.map((note) => note.pitch));
      }
      const middle = (low + high) / 2;
      const span = Math.max(MIN_SPAN, high - low + 7);
      this.low += (middle - span / 2 - this.low) * 0.08;
      this.high += (middle + span / 2 - this.high) * 0.08;
    }

    draw() {
      const g = this.context, width = this.width, height = this.height;
      const now = this.now() ?? 0;
      const right = now + AHEAD_SECONDS, left = right - SHOWN_SECONDS - AHEAD_SECONDS;
      const x = (t) => GUTTER + ((t - left) / (right - left)) * (width - GUTTER);
      const shown = this.held.filter((note) => (note.end ?? now) >= left);
      this.fitPitches(shown);
      const rowHeight = height / (this.high - this.low);
      const y = (pitch) => height - (pitch - this.low + 1) * rowHeight;

      g.clearRect(0, 0, width, height);
      g.fillStyle = "#10141b";
      g.fillRect(0, 0, width, height);
      this.drawRows(g, y, rowHeight, width);
      this.drawBeats(g, x, left, right, height);
      this.drawStarts(g, x, left, height);
      for (const note of shown) this.drawNote(g, note, x, y, rowHeight, now);
      this.drawPedals(g, x, now, height);
      g.strokeStyle = "rgba(255,255,255,0.55)";
      g.lineWidth = 1;
      g.beginPath(); g.moveTo(x(now) + 0.5, 0); g.lineTo(x(now) + 0.5, height); g.stroke();
      this.drawKeys(g, y, rowHeight, height);
    }

    drawRows(g, y, rowHeight, width) {
      for (let pitch = Math.floor(this.low); pitch <= Math.ceil(this.high); pitch++) {
        if (BLACK.has(pitch % 12)) {
          g.fillStyle = "rgba(255,255,255,0.025)";
          g.fillRect(GUTTER, y(pitch), width - GUTTER, rowHeight);
        }
        if (pitch % 12 === 0) {
          g.fillStyle = "rgba(255,255,255,0.08)";
          g.fillRect(GUTTER, y(pitch) + rowHeight - 1, width - GUTTER, 1);
        }
      }
    }

    drawBeats(g, x, left, right, height) {
      if (!this.tempo || !(this.tempo.bpm > 0)) return;
      const beat = 60 / this.tempo.bpm;
      const first = Math.ceil((left - this.tempo.t) / beat);
      for (let n = first; this.tempo.t + n * beat <= right; n++) {
        const bar = n % 4 === 0;
        g.fillStyle = bar ? "rgba(255,255,255,0.13)" : "rgba(255,255,255,0.045)";
        g.fillRect(Math.round(x(this.tempo.t + n * beat)), 0, 1, height);
      }
    }

    drawStarts(g, x, left, height) {
      g.font = "11px system-ui, sans-serif";
      for (const start of this.starts) {
        if (start.t < left) continue;
        const at = Math.round(x(start.t)) + 0.5;
        g.strokeStyle = "rgba(246,173,85,0.5)";
        g.setLineDash([3, 4]);
        g.beginPath(); g.moveTo(at, 14); g.lineTo(at, height); g.stroke();
        g.setLineDash([]);
        g.fillStyle = "rgba(246,173,85,0.9)";
        const key = shortKey(start.keeps);
        g.fillText(key ? `answer · ${key}` : "answer", at + 4, 11);
      }
    }

    // The sustain pedal: a thin band along the bottom while it is held.
    drawPedals(g, x, now, height) {
      for (const pedal of this.pedals) {
        const from = x(pedal.start), to = x(pedal.end ?? now);
        if (to < GUTTER) continue;
        g.fillStyle = COLOURS[pedal.role];
        g.globalAlpha = 0.35;
        g.fillRect(Math.max(GUTTER, from), height - (pedal.role === "call" ? 4 : 8), to - Math.max(GUTTER, from), 3);
        g.globalAlpha = 1;
      }
    }

    drawNote(g, note, x, y, rowHeight, now) {
      const from = x(note.start), to = x(note.end ?? now);
      const top = y(note.pitch) + 1, tall = Math.max(2, rowHeight - 2);
      g.globalAlpha = 0.45 + 0.55 * (note.velocity / 127);
      g.fillStyle = COLOURS[note.role];
      if (note.end === null) { g.shadowColor = COLOURS[note.role]; g.shadowBlur = 10; }
      g.beginPath();
      if (g.roundRect) g.roundRect(from, top, Math.max(3, to - from), tall, Math.min(3, tall / 2));
      else g.rect(from, top, Math.max(3, to - from), tall);  // an older browser
      g.fill();
      g.shadowBlur = 0;
      g.globalAlpha = 1;
    }

    drawKeys(g, y, rowHeight, height) {
      g.fillStyle = "#d5dbe5";
      g.fillRect(0, 0, GUTTER, height);
      g.font = "10px system-ui, sans-serif";
      g.textBaseline = "middle";
      for (let pitch = Math.floor(this.low); pitch <= Math.ceil(this.high); pitch++) {
        const top = y(pitch);
        if (BLACK.has(pitch % 12)) {
          g.fillStyle = "#1f2530";
          g.fillRect(GUTTER * 0.42, top + 0.5, GUTTER * 0.58, Math.max(1, rowHeight - 1));
        } else if (pitch % 12 === 0 || pitch % 12 === 5) {  // the gap below C and F
          g.fillStyle = "#98a2b3";
          g.fillRect(0, top + rowHeight - 0.5, GUTTER, 1);
        }
        if (pitch % 12 === 0) {
          g.fillStyle = "#3b4455";
          g.fillText(`C${pitch / 12 - 1}`, 4, top + rowHeight / 2);
        }
      }
      g.fillStyle = "#0b0e13";
      g.fillRect(GUTTER - 1, 0, 1, height);
      g.textBaseline = "alphabetic";
    }
  }

  PianoRoll.shortKey = shortKey;
  window.AntiphonPianoRoll = PianoRoll;
})();
