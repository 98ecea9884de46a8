// nnlearn playground page.  Everything it shows comes from the playground's JSON API (see api.py);
// the charts are plain canvas drawings, so the page needs no library and nothing from the network.
"use strict";

const COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
const $ = (id) => document.getElementById(id);

// --- the API ----------------------------------------------------------------------------------------
async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (method === "POST") {
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  let data;
  try { data = await response.json(); } catch (e) { data = { error: `${response.status} ${response.statusText}` }; }
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

async function attempt(action) {
  try {
    showMessage("");
    return await action();
  } catch (e) {
    showMessage(e.message);
    return undefined;
  }
}

// --- tabs ---------------------------------------------------------------------------------------------
function selectTab(name) {
  for (const b of document.querySelectorAll("nav button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== `panel-${name}`;
  const url = new URL(location.href);
  url.searchParams.set("tab", name);
  history.replaceState(null, "", url);
  if (name === "chapter4") chapter4.init();
  if (name === "draw") draw.refreshNetworks();
}

// --- charts on canvas ------------------------------------------------------------------------------
function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function formatTick(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  return String(+v.toPrecision(4));
}

// series: [{color, points: [[x, y]...], dash, width}]; options: {xlabel, ylabel, ymin, ymax, xlog, ylog, markers}
function lineChart(canvas, series, options) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  const m = { left: 58, right: 14, top: 12, bottom: 38 };
  ctx.clearRect(0, 0, W, H);
  const tx = options.xlog ? Math.log10 : (v) => v;
  const ty = options.ylog ? Math.log10 : (v) => v;
  let xs = [], ys = [];
  for (const s of series) for (const [x, y] of s.points) {
    if (Number.isFinite(tx(x)) && Number.isFinite(ty(y))) { xs.push(tx(x)); ys.push(ty(y)); }
  }
  let x0 = options.xmin ?? (xs.length ? Math.min(...xs) : 0), x1 = options.xmax ?? (xs.length ? Math.max(...xs) : 1);
  let y0 = options.ymin ?? (ys.length ? Math.min(...ys) : 0), y1 = options.ymax ?? (ys.length ? Math.max(...ys) : 1);
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) { y1 = y0 + 1; }
  const px = (x) => m.left + (tx(x) - x0) / (x1 - x0) * (W - m.left - m.right);
  const py = (y) => H - m.bottom - (ty(y) - y0) / (y1 - y0) * (H - m.top - m.bottom);
  ctx.font = "11px system-ui, sans-serif";
  ctx.strokeStyle = "#e4e4e4"; ctx.fillStyle = "#555"; ctx.lineWidth = 1;
  ctx.textAlign = "right"; ctx.textBaseline = "middle";
  for (const t of niceTicks(y0, y1, 5)) {
    const y = H - m.bottom - (t - y0) / (y1 - y0) * (H - m.top - m.bottom);
    ctx.beginPath(); ctx.moveTo(m.left, y); ctx.lineTo(W - m.right, y); ctx.stroke();
    ctx.fillText(options.ylog ? `1e${t}` : formatTick(t), m.left - 5, y);
  }
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const t of niceTicks(x0, x1, 6)) {
    const x = m.left + (t - x0) / (x1 - x0) * (W - m.left - m.right);
    ctx.beginPath(); ctx.moveTo(x, m.top); ctx.lineTo(x, H - m.bottom); ctx.stroke();
    ctx.fillText(options.xlog ? `1e${t}` : formatTick(t), x, H - m.bottom + 4);
  }
  ctx.strokeStyle = "#888";
  ctx.strokeRect(m.left, m.top, W - m.left - m.right, H - m.top - m.bottom);
  ctx.fillStyle = "#333";
  if (options.xlabel) ctx.fillText(options.xlabel, (m.left + W - m.right) / 2, H - 16);
  if (options.ylabel) {
    ctx.save(); ctx.translate(12, (m.top + H - m.bottom) / 2); ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle"; ctx.fillText(options.ylabel, 0, 0); ctx.restore();
  }
  ctx.save();
  ctx.beginPath(); ctx.rect(m.left - 6, m.top - 6, W - m.left - m.right + 12, H - m.top - m.bottom + 12); ctx.clip();
  let drawn = 0;
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = s.width || 1.5;
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    let pen = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(tx(x)) || !Number.isFinite(ty(y))) { pen = false; continue; }
      if (pen) ctx.lineTo(px(x), py(y)); else ctx.moveTo(px(x), py(y));
      pen = true; drawn++;
    }
    ctx.stroke();
    if (s.markers) for (const [x, y] of s.points) {
      if (Number.isFinite(tx(x)) && Number.isFinite(ty(y))) { ctx.beginPath(); ctx.arc(px(x), py(y), s.markers, 0, 7); ctx.fill(); }
    }
  }
  ctx.restore();
  ctx.setLineDash([]);
  canvas.dataset.points = String(drawn);
  return { px, py };
}

// At most `limit` points: the mean of each bucket, so a long noisy loss stays readable.
function bucketMeans(values, limit) {
  const n = values.length;
  if (n <= limit) return values.map((v, i) => [i + 1, v]);
  const size = n / limit, out = [];
  for (let b = 0; b < limit; b++) {
    const lo = Math.floor(b * size), hi = Math.floor((b + 1) * size);
    let sum = 0, count = 0;
    for (let i = lo; i < hi; i++) if (Number.isFinite(values[i])) { sum += values[i]; count++; }
    out.push([(lo + hi) / 2 + 1, count ? sum / count : NaN]);
  }
  return out;
}

// Gray pixels of a weight image (128 = 0) in a blue–white–red diverging map, like the report's figure.
function paintImage(canvas, base64, diverging) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const side = Math.round(Math.sqrt(bytes.length));
  canvas.width = side; canvas.height = side;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(side, side);
  for (let i = 0; i < bytes.length; i++) {
    let r, g, b;
    if (diverging) {
      const t = (bytes[i] - 127.5) / 127.5;
      const [cr, cg, cb] = t > 0 ? [213, 94, 0] : [0, 114, 178];
      const a = Math.min(1, Math.abs(t));
      r = 255 + (cr - 255) * a; g = 255 + (cg - 255) * a; b = 255 + (cb - 255) * a;
    } else { r = g = b = bytes[i]; }
    img.data.set([r, g, b, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

// --- the Train tab ---------------------------------------------------------------------------------
const FIELDS = ["dataset", "hidden", "activation", "init", "optimizer", "lr", "batch_size", "sampling", "gradient", "iters", "seed"];
const train = {
  runs: new Map(),       // id -> {id, settings, state, loss: [], epochs: [], color, imagesVersion}
  selected: null,
  options: null,
  imagesShown: -1,
  imagesLoading: false,

  async init() {
    this.options = await api("GET", "/api/options");
    const form = $("settings");
    for (const [name, values] of Object.entries(this.options.choices)) {
      const control = form.elements[name];
      const menu = control.list || control;  // a free-text field offers its choices in a datalist
      for (const v of values) menu.append(new Option(v, v));
    }
    form.elements.optimizer.addEventListener("change", () => {
      form.elements.lr.value = String(this.options.default_lr[form.elements.optimizer.value] ?? form.elements.lr.value);
    });
    const url = new URL(location.href);
    for (const name of FIELDS) {
      const fromUrl = url.searchParams.get(name);
      const value = fromUrl !== null ? fromUrl : this.options.defaults[name];
      form.elements[name].value = Array.isArray(value) ? value.join(",") : String(value);
    }
    form.addEventListener("change", () => this.writeUrl());
    form.addEventListener("submit", (e) => { e.preventDefault(); this.start(false); });
    $("start").addEventListener("click", () => this.start(false));
    $("pause").addEventListener("click", () => this.control("pause"));
    $("resume").addEventListener("click", () => this.control("resume"));
    $("step").addEventListener("click", () => this.stepOnce());
    $("stop").addEventListener("click", () => this.control("stop"));
    $("save").addEventListener("click", () => this.save());
    $("reset").addEventListener("click", () => this.reset());
    const runs = await api("GET", "/api/runs");
    for (const r of runs.runs) this.remember(r);
    this.draw();
  },

  settings() {
    const form = $("settings"), s = {};
    for (const name of FIELDS) s[name] = form.elements[name].value.trim();
    s.hidden = s.hidden.split(",").map((h) => h.trim()).filter((h) => h).map((h) => (/^\d+$/.test(h) ? Number(h) : h));
    s.lr = s.lr === "" ? null : isNaN(Number(s.lr)) ? s.lr : Number(s.lr);
    for (const name of ["batch_size", "iters", "seed"]) s[name] = /^-?\d+$/.test(s[name]) ? Number(s[name]) : s[name];
    return s;
  },

  writeUrl() {
    const url = new URL(location.href);
    const form = $("settings");
    for (const name of FIELDS) url.searchParams.set(name, form.elements[name].value.trim());
    history.replaceState(null, "", url);
  },

  remember(summary) {
    let run = this.runs.get(summary.id);
    if (!run) {
      run = { id: summary.id, loss: [], epochs: [], imagesVersion: 0, color: COLORS[(summary.id - 1) % COLORS.length] };
      this.runs.set(summary.id, run);
    }
    Object.assign(run, { settings: summary.settings, state: summary.state, error: summary.error,
                         iteration: summary.iteration });
    if (this.selected === null || !this.runs.has(this.selected)) this.selected = summary.id;
    return run;
  },

  async start(paused) {
    this.writeUrl();
    const summary = await attempt(() => api("POST", "/api/runs", { ...this.settings(), paused }));
    if (!summary) return null;
    this.remember(summary);
    this.selected = summary.id;
    this.imagesShown = -1;
    this.draw();
    return summary;
  },

  async control(action) {
    if (this.selected === null) { showMessage("start a run first"); return; }
    const summary = await attempt(() => api("POST", `/api/runs/${this.selected}/${action}`));
    if (summary) { this.remember(summary); this.drawLegend(); }
  },

  async stepOnce() {
    const run = this.runs.get(this.selected);
    if (!run || !["paused", "running"].includes(run.state)) { await this.start(true); return; }
    if (run.state === "running") await this.control("pause");
    else await this.control("step");
  },

  async save() {
    if (this.selected === null) { showMessage("start a run first"); return; }
    const result = await attempt(() => api("POST", `/api/runs/${this.selected}/save`));
    if (result) {
      $("saved").hidden = false;
      $("saved").textContent = `saved run ${result.id} as the run folder ${result.path}; make its report with: nnlearn report ${result.path}`;
    }
  },

  async reset() {
    for (const id of [...this.runs.keys()]) await attempt(() => api("DELETE", `/api/runs/${id}`));
    this.runs.clear();
    this.selected = null;
    this.imagesShown = -1;
    $("weights").replaceChildren(); $("confusion").replaceChildren(); $("misclassified").replaceChildren();
    this.draw();
  },

  // one Server-Sent Event: new losses/epochs/state of the runs that changed
  update(event) {
    for (const delta of event.runs) {
      const run = this.remember({ id: delta.id, settings: delta.settings, state: delta.state, error: delta.error,
                                   iteration: delta.iteration });
      run.loss.length = Math.min(run.loss.length, delta.loss_from);
      run.loss.push(...delta.loss);
      run.epochs.length = Math.min(run.epochs.length, delta.epochs_from);
      run.epochs.push(...delta.epochs);
      run.imagesVersion = delta.images_version;
      run.iterPerEpoch = delta.iter_per_epoch;
    }
    for (const id of event.removed) this.runs.delete(id);
    if (event.runs.length || event.removed.length) this.draw();
  },

  label(run) {
    const s = run.settings;
    const extras = [s.activation !== "sigmoid" ? s.activation : "", s.optimizer !== "sgd" ? s.optimizer : "",
                    s.init !== "0.01" ? `init ${s.init}` : "", s.gradient === "numerical" ? "numerical" : "",
                    s.dataset !== "mnist-mini" ? s.dataset : ""].filter((e) => e);
    return `run ${run.id}: lr ${s.lr}, hidden ${s.hidden.join("-")}, batch ${s.batch_size}` +
      extras.map((e) => `, ${e}`).join("");
  },

  draw() {
    this.drawLegend();
    const runs = [...this.runs.values()];
    lineChart($("loss-chart"), runs.map((r) => ({ color: r.color, points: bucketMeans(r.loss, 800), width: 1.2 })),
              { xlabel: "iteration", ylabel: "loss", ymin: 0, xmin: 0 });
    const acc = [];
    for (const r of runs) {
      acc.push({ color: r.color, points: r.epochs.map((e) => [e.epoch, e.test_acc]), markers: 2.5 });
      acc.push({ color: r.color, points: r.epochs.map((e) => [e.epoch, e.train_acc]), dash: [5, 4] });
    }
    const accs = runs.flatMap((r) => r.epochs.flatMap((e) => [e.test_acc, e.train_acc])).filter(Number.isFinite);
    const lowest = accs.length ? Math.max(0, Math.floor(Math.min(...accs) * 10) / 10) : 0;
    const epochs = Math.max(1, ...runs.map((r) => r.epochs.length ? r.epochs[r.epochs.length - 1].epoch : 0));
    lineChart($("acc-chart"), acc, { xlabel: "epoch", ylabel: "accuracy", ymin: lowest, ymax: 1, xmin: 0, xmax: epochs });
    const run = this.runs.get(this.selected);
    if (run) {
      const last = run.epochs[run.epochs.length - 1];
      $("run-status").textContent = `run ${run.id} ${run.state}: iteration ${run.iteration} of ${run.settings.iters}` +
        (last ? `, test accuracy ${(last.test_acc * 100).toFixed(1)}%` : "");
      if (run.error) showMessage(`run ${run.id}: ${run.error}`);
      if (run.imagesVersion !== this.imagesShown) this.loadImages(run);
    } else {
      $("run-status").textContent = "no run yet: choose settings and press Start";
    }
  },

  drawLegend() {
    const list = $("legend");
    list.replaceChildren();
    for (const run of this.runs.values()) {
      const item = document.createElement("li");
      item.className = run.id === this.selected ? "selected" : "";
      item.dataset.run = String(run.id);
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = run.color;
      const text = document.createElement("span");
      text.textContent = `${this.label(run)} (${run.state})`;
      const remove = document.createElement("button");
      remove.className = "remove"; remove.textContent = "×"; remove.title = "stop and remove this run";
      remove.addEventListener("click", async (e) => {
        e.stopPropagation();
        await attempt(() => api("DELETE", `/api/runs/${run.id}`));
        this.runs.delete(run.id);
        if (this.selected === run.id) { this.selected = this.runs.size ? [...this.runs.keys()][0] : null; this.imagesShown = -1; }
        this.draw();
      });
      item.append(swatch, text, remove);
      item.addEventListener("click", () => { this.selected = run.id; this.imagesShown = -1; this.draw(); draw.refreshNetworks(); });
      list.append(item);
    }
  },

  async loadImages(run) {
    if (this.imagesLoading) return;
    this.imagesLoading = true;
    try {
      const images = await api("GET", `/api/runs/${run.id}/images`);
      if (run.id !== this.selected) return;
      this.imagesShown = images.version;
      this.showWeights(images);
      if (images.confusion) this.showConfusion(images);
      this.showMisclassified(images);
    } catch (e) {
      showMessage(e.message);
    } finally {
      this.imagesLoading = false;
    }
    if (run.imagesVersion !== this.imagesShown && run.id === this.selected) setTimeout(() => this.loadImages(run), 200);
  },

  showWeights(images) {
    const box = $("weights");
    while (box.children.length < images.weights.length) box.append(document.createElement("canvas"));
    while (box.children.length > images.weights.length) box.lastChild.remove();
    images.weights.forEach((w, i) => paintImage(box.children[i], w, true));
    box.dataset.version = String(images.version);
    box.dataset.iteration = String(images.iteration);
    box.dataset.signature = images.weights.map((w) => w.slice(200, 240)).join("");
  },

  showConfusion(images) {
    const table = $("confusion"), m = images.confusion, names = images.class_names;
    const max = Math.max(1, ...m.map((row) => Math.max(...row)));
    table.replaceChildren();
    const head = table.insertRow();
    head.append(document.createElement("th"));
    for (const n of names) { const th = document.createElement("th"); th.textContent = n.slice(0, 4); head.append(th); }
    m.forEach((row, i) => {
      const tr = table.insertRow();
      const th = document.createElement("th"); th.textContent = names[i].slice(0, 8); tr.append(th);
      row.forEach((count, j) => {
        const td = tr.insertCell();
        td.textContent = count ? String(count) : "";
        const a = Math.sqrt(count / max);
        td.style.background = i === j ? `rgba(0,114,178,${a})` : `rgba(213,94,0,${Math.min(1, 3 * a)})`;
        td.style.color = a > 0.55 ? "#fff" : "#222";
      });
    });
  },

  showMisclassified(images) {
    const box = $("misclassified");
    box.replaceChildren();
    const names = images.class_names || [];
    for (const item of images.misclassified) {
      const card = document.createElement("div");
      card.className = "card";
      const canvas = document.createElement("canvas");
      paintImage(canvas, item.pixels, false);
      const text = document.createElement("div");
      const label = document.createElement("b");
      label.textContent = `${names[item.label] ?? item.label} →`;
      text.append(label, document.createElement("br"),
                  item.top3.map((t) => `${names[t.class] ?? t.class} ${(t.probability * 100).toFixed(0)}%`).join(" · "));
      card.append(canvas, text);
      box.append(card);
    }
  },
};

// --- the Chapter 4 tab ------------------------------------------------------------------------------
const chapter4 = {
  ready: false,
  surface: null,
  start: [-3, 3],
  path: [],
  shown: 0,
  timer: null,
  request: 0,

  lr() { return Math.pow(10, Number($("c4-lr").value)); },

  init() {
    if (this.ready) return;
    this.ready = true;
    $("c4-function").addEventListener("change", () => this.loadSurface());
    $("c4-lr").addEventListener("input", () => this.loadPath(false));
    $("c4-steps").addEventListener("change", () => this.loadPath(false));
    $("c4-step").addEventListener("click", () => { this.stopPlaying(); this.shown = Math.min(this.shown + 1, this.path.length - 1); this.drawField(); });
    $("c4-play").addEventListener("click", () => this.play());
    $("c4-restart").addEventListener("click", () => { this.stopPlaying(); this.shown = 0; this.drawField(); });
    const preset = (v) => () => { $("c4-lr").value = String(Math.log10(v)); this.loadPath(true); };
    $("c4-lr10").addEventListener("click", preset(10));
    $("c4-lrtiny").addEventListener("click", preset(1e-10));
    $("c4-lrgood").addEventListener("click", preset(0.1));
    $("c4-canvas").addEventListener("click", (e) => {
      const c = $("c4-canvas"), r = c.getBoundingClientRect(), ext = this.surface.extent;
      const x = ((e.clientX - r.left) / r.width) * 2 * ext - ext, y = ext - ((e.clientY - r.top) / r.height) * 2 * ext;
      this.start = [Math.round(x * 100) / 100, Math.round(y * 100) / 100];
      this.loadPath(true);
    });
    $("tg-x").addEventListener("input", () => this.loadTangent());
    $("tg-h").addEventListener("input", () => this.loadTangent());
    this.loadSurface();
    this.loadTangent();
  },

  async loadSurface() {
    const f = $("c4-function").value;
    const surface = await attempt(() => api("GET", `/api/chapter4/surface?function=${f}`));
    if (!surface) return;
    this.surface = surface;
    this.loadPath(true);
  },

  async loadPath(animate) {
    const lr = this.lr();
    $("c4-lr-value").textContent = lr.toPrecision(3);
    const q = new URLSearchParams({ function: $("c4-function").value, x0: this.start[0], x1: this.start[1], lr,
                                    steps: $("c4-steps").value });
    const ticket = ++this.request;
    const result = await attempt(() => api("GET", `/api/chapter4/descent?${q}`));
    if (!result || ticket !== this.request) return;
    this.path = result.path;
    this.result = result;
    if (animate) this.play(); else { this.stopPlaying(); this.shown = this.path.length - 1; this.drawField(); }
  },

  play() {
    this.stopPlaying();
    this.shown = 0;
    this.drawField();
    this.timer = setInterval(() => {
      if (this.shown >= this.path.length - 1) { this.stopPlaying(); return; }
      this.shown++;
      this.drawField();
    }, 120);
  },

  stopPlaying() { if (this.timer) clearInterval(this.timer); this.timer = null; },

  drawField() {
    const c = $("c4-canvas"), ctx = c.getContext("2d"), s = this.surface;
    if (!s) return;
    const W = c.width, H = c.height, ext = s.extent;
    const px = (x) => ((x + ext) / (2 * ext)) * W, py = (y) => H - ((y + ext) / (2 * ext)) * H;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    // contours by marching squares over the server's grid of f
    const values = s.values, axis = s.axis, n = axis.length;
    const top = Math.max(...values.map((row) => Math.max(...row)));
    const levels = [];
    for (let k = 1; k <= 12; k++) levels.push(top * Math.pow(k / 12, 2));
    ctx.lineWidth = 1;
    levels.forEach((level, k) => {
      ctx.strokeStyle = `hsl(${210 - k * 12}, 60%, ${65 - k * 2}%)`;
      ctx.beginPath();
      for (let j = 0; j < n - 1; j++) for (let i = 0; i < n - 1; i++) {
        const corners = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]];
        const pts = [];
        for (let e = 0; e < 4; e++) {
          const [ai, aj] = corners[e], [bi, bj] = corners[(e + 1) % 4];
          const va = values[aj][ai], vb = values[bj][bi];
          if ((va < level) !== (vb < level)) {
            const t = (level - va) / (vb - va);
            pts.push([axis[ai] + t * (axis[bi] - axis[ai]), axis[aj] + t * (axis[bj] - axis[aj])]);
          }
        }
        for (let p = 0; p + 1 < pts.length; p += 2) {
          ctx.moveTo(px(pts[p][0]), py(pts[p][1])); ctx.lineTo(px(pts[p + 1][0]), py(pts[p + 1][1]));
        }
      }
      ctx.stroke();
    });
    // axes
    ctx.strokeStyle = "#bbb"; ctx.beginPath();
    ctx.moveTo(px(-ext), py(0)); ctx.lineTo(px(ext), py(0)); ctx.moveTo(px(0), py(-ext)); ctx.lineTo(px(0), py(ext));
    ctx.stroke();
    ctx.fillStyle = "#777"; ctx.font = "11px system-ui, sans-serif";
    ctx.fillText("x0", W - 18, py(0) - 5); ctx.fillText("x1", px(0) + 5, 12);
    ctx.fillText(`−${ext}`, 3, py(0) - 5); ctx.fillText(`${ext}`, W - 14, py(0) + 13);
    // −∇f arrows, scaled to the largest
    const longest = Math.max(...s.arrows.map((a) => Math.hypot(a[2], a[3]))) || 1;
    const cell = (W / Math.sqrt(s.arrows.length)) * 0.8;
    ctx.strokeStyle = "#999"; ctx.fillStyle = "#999";
    for (const [x, y, gx, gy] of s.arrows) {
      const len = Math.hypot(gx, gy);
      if (len === 0) continue;
      const k = (cell * len) / longest, ux = gx / len, uy = -gy / len;
      const x0 = px(x), y0 = py(y), x1 = x0 + ux * k, y1 = y0 + uy * k;
      ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(x1, y1);
      ctx.lineTo(x1 - ux * 4 - uy * 2.5, y1 - uy * 4 + ux * 2.5); ctx.lineTo(x1 - ux * 4 + uy * 2.5, y1 - uy * 4 - ux * 2.5);
      ctx.fill();
    }
    // the path so far
    const path = this.path.slice(0, this.shown + 1);
    ctx.strokeStyle = "#D55E00"; ctx.fillStyle = "#D55E00"; ctx.lineWidth = 2;
    ctx.beginPath();
    path.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
    ctx.stroke();
    for (const [x, y] of path) { ctx.beginPath(); ctx.arc(px(x), py(y), 3, 0, 7); ctx.fill(); }
    ctx.fillStyle = "#000"; ctx.beginPath(); ctx.arc(px(this.start[0]), py(this.start[1]), 4.5, 0, 7); ctx.fill();
    c.dataset.path = JSON.stringify(path.map(([x, y]) => [+x.toPrecision(6), +y.toPrecision(6)]));
    const last = this.path[this.shown] || this.start;
    const r = this.result || {};
    $("c4-readout").textContent =
      `f = ${s.label}, lr = ${this.lr().toPrecision(3)}, start (${this.start.join(", ")})\n` +
      `step ${this.shown} of ${this.path.length - 1}: x = (${last.map((v) => v.toPrecision(4)).join(", ")})` +
      (r.diverged ? "\ndiverged: lr is too large — every step overshoots the minimum and lands farther away than it started"
        : this.path.length > 1 && Math.hypot(...this.path[this.path.length - 1].map((v, i) => v - this.path[0][i])) < 1e-6
          ? "\nbarely moved: lr is too small to make progress in these steps" : "");
  },

  async loadTangent() {
    const x = Number($("tg-x").value), h = Math.pow(10, Number($("tg-h").value));
    $("tg-x-value").textContent = String(x);
    $("tg-h-value").textContent = h.toExponential(1);
    const t = await attempt(() => api("GET", `/api/chapter4/tangent?x=${x}&h=${h}`));
    if (!t) return;
    const line = (slope) => [[0, t.fx + slope * (0 - x)], [20, t.fx + slope * (20 - x)]];
    lineChart($("tg-canvas"), [
      { color: "#333", points: t.curve, width: 2 },
      { color: "#E69F00", points: line(t.forward), dash: [6, 4] },
      { color: "#0072B2", points: line(t.central) },
      { color: "#D55E00", points: [[x, t.fx]], markers: 4 },
    ], { xlabel: "x", ylabel: "f(x)", xmin: 0, xmax: 20, ymin: -0.5, ymax: 6.5 });
    $("tg-readout").textContent =
      `exact   0.02x + 0.1 = ${t.exact.toPrecision(10)}\n` +
      `forward (orange)    = ${t.forward.toPrecision(10)}  error ${Math.abs(t.forward - t.exact).toExponential(2)}\n` +
      `central (blue)      = ${t.central.toPrecision(10)}  error ${Math.abs(t.central - t.exact).toExponential(2)}`;
    const floor = (e) => Math.max(e, 1e-17);
    const fe = Math.abs(t.forward - t.exact), ce = Math.abs(t.central - t.exact);
    lineChart($("tg-errors"), [
      { color: "#E69F00", points: t.errors.map(([s, f]) => [s, floor(f)]) },
      { color: "#0072B2", points: t.errors.map(([s, , c]) => [s, floor(c)]) },
      { color: "#E69F00", points: [[h, floor(fe)]], markers: 5 },
      { color: "#0072B2", points: [[h, floor(ce)]], markers: 4 },
    ], { xlabel: "h", ylabel: "|error|", xlog: true, ylog: true });
  },
};

// --- the Draw tab -----------------------------------------------------------------------------------
const draw = {
  drawing: false,
  dirty: false,
  busy: false,
  last: null,

  init() {
    const c = $("draw-canvas"), ctx = c.getContext("2d");
    this.clear();
    const point = (e) => { const r = c.getBoundingClientRect(); return [(e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height]; };
    c.addEventListener("pointerdown", (e) => { this.drawing = true; this.last = point(e); c.setPointerCapture(e.pointerId); this.stroke(ctx, point(e)); });
    c.addEventListener("pointermove", (e) => { if (this.drawing) this.stroke(ctx, point(e)); });
    const end = () => { this.drawing = false; this.last = null; this.predict(); };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    $("draw-clear").addEventListener("click", () => this.clear());
    $("draw-network").addEventListener("change", () => this.predict());
    setInterval(() => { if (this.dirty) this.predict(); }, 150);
  },

  stroke(ctx, p) {
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 24; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(...this.last); ctx.lineTo(...p); ctx.stroke();
    this.last = p;
    this.dirty = true;
  },

  clear() {
    const c = $("draw-canvas"), ctx = c.getContext("2d");
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, c.width, c.height);
    $("draw-top3").replaceChildren();
    $("draw-source").textContent = "Draw a digit with the mouse.";
    $("draw-preview").getContext("2d").clearRect(0, 0, 28, 28);
    this.dirty = false;
  },

  refreshNetworks() {
    const select = $("draw-network"), current = select.value;
    select.replaceChildren(new Option("pretrained (ships with nnlearn)", ""));
    for (const run of train.runs.values()) select.add(new Option(`${train.label(run)} — ${run.state}`, String(run.id)));
    const want = current && train.runs.has(Number(current)) ? current : train.selected !== null ? String(train.selected) : "";
    select.value = want;
  },

  async predict() {
    if (this.busy) return;
    this.busy = true;
    this.dirty = false;
    try {
      const c = $("draw-canvas"), data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      const gray = new Uint8Array(c.width * c.height);
      for (let i = 0; i < gray.length; i++) gray[i] = data[i * 4];
      let binary = "";
      for (let i = 0; i < gray.length; i += 8192) binary += String.fromCharCode(...gray.subarray(i, i + 8192));
      const run = $("draw-network").value;
      const result = await attempt(() => api("POST", "/api/predict", { width: c.width, height: c.height, pixels: btoa(binary),
                                                                    run: run === "" ? null : Number(run) }));
      if (!result) return;
      paintImage($("draw-preview"), result.image, false);
      const list = $("draw-top3");
      list.replaceChildren();
      for (const t of result.top3) {
        const li = document.createElement("li");
        li.textContent = `${t.class}  ${(t.probability * 100).toFixed(1)}%`;
        const bar = document.createElement("div");
        bar.className = "bar"; bar.style.width = `${Math.max(1, t.probability * 100)}%`;
        li.append(bar);
        list.append(li);
      }
      $("draw-source").textContent = `by ${result.network}`;
    } finally {
      this.busy = false;
    }
  },
};

// --- the event stream -------------------------------------------------------------------------------
function listen() {
  const source = new EventSource("/api/events");
  source.onopen = () => { $("connection").textContent = "live"; };
  source.onmessage = (e) => { train.update(JSON.parse(e.data)); };
  source.onerror = () => { $("connection").textContent = "disconnected: is nnlearn playground still running?"; };
  window.addEventListener("beforeunload", () => source.close());
}

window.addEventListener("DOMContentLoaded", async () => {
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  draw.init();
  await attempt(() => train.init());
  listen();
  selectTab(new URL(location.href).searchParams.get("tab") || "train");
});
