// vidclass report: draws the page from the JSON in #vidclass-data.
// Every piece of text from the data goes in with textContent or setAttribute, never as markup.
(function () {
  "use strict";
  performance.mark("vidclass-start");
  const data = JSON.parse(document.getElementById("vidclass-data").textContent);
  const videos = data.videos;
  const labels = data.labels;
  const colours = data.colours;
  const GAP_TEXT = "no confident action";
  const PAGE_SIZES = [25, 50, 100, 250, 0];
  const FOUND_SHOWN = 30; // label chips shown before "all N labels"
  const state = { query: "", label: -1, minScore: 0, status: "all", sort: "input", page: 0, pageSize: 50, printing: false };

  // --- small helpers -------------------------------------------------------------------------
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const key of Object.keys(attrs)) {
        const value = attrs[key];
        if (value === null || value === undefined || value === false) continue;
        if (key === "text") node.textContent = String(value);
        else if (key === "class") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  const fmtScore = (p) => p.toFixed(3);
  const fmtPct = (p) => (100 * p).toFixed(1) + "%";
  function fmtTime(s) {
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    const m = Math.floor(s / 60);
    const rest = s - 60 * m;
    return m + ":" + (rest < 10 ? "0" : "") + rest.toFixed(1);
  }
  const labelText = (i) => (i < 0 ? GAP_TEXT : labels[i]);
  function swatch(i) {
    const node = el("span", { class: i < 0 ? "swatch gap" : "swatch", "aria-hidden": "true" });
    if (i >= 0) node.style.background = colours[i];
    return node;
  }
  const top1 = (v) => (v.top && v.top.length ? v.top[0] : null);
  const isUnsure = (v) => !v.error && (!top1(v) || top1(v)[1] < data.unsure_below);
  const number = (n) => n.toLocaleString("en");

  // Text each video is searched by: its path and every label it shows, lower case.
  for (const v of videos) {
    const words = [v.source];
    for (const t of v.top || []) words.push(labels[t[0]]);
    for (const b of v.bars || []) if (b[2] >= 0) words.push(labels[b[2]]);
    if (v.error) words.push(v.error);
    v.haystack = words.join("\n").toLowerCase();
    v.labelSet = new Set((v.bars || []).map((b) => b[2]).filter((i) => i >= 0));
    if (top1(v)) v.labelSet.add(top1(v)[0]);
  }

  // --- the run ------------------------------------------------------------------------------
  const main = document.getElementById("main");
  const subtitle = document.getElementById("subtitle");
  {
    const parts = [number(videos.length) + (videos.length === 1 ? " video" : " videos"), "made " + data.created.replace("T", " ")];
    if (data.results) parts.push("from " + data.results);
    parts.push("vidclass " + data.version);
    subtitle.textContent = parts.join(" · ");
  }

  function overview() {
    const failed = videos.filter((v) => v.error).length;
    const warned = videos.filter((v) => v.warnings && v.warnings.length).length;
    const unsure = videos.filter(isUnsure).length;
    const counts = el("ul", { class: "counts", "aria-label": "Counts" }, [
      el("li", null, [el("strong", { text: number(videos.length - failed) }), "classified"]),
      el("li", null, [el("strong", { text: number(failed) }), "failed"]),
      el("li", null, [el("strong", { text: number(warned) }), "with warnings"]),
      el("li", null, [el("strong", { text: number(unsure) }), "unsure (top-1 below " + data.unsure_below + ")"]),
      el("li", null, [el("strong", { text: number(data.found.filter((n) => n > 0).length) }), "labels found"]),
    ]);
    const order = labels.map((_, i) => i).filter((i) => data.found[i] > 0);
    order.sort((a, b) => data.found[b] - data.found[a] || labels[a].localeCompare(labels[b]));
    const found = el("ul", { class: "found", id: "found", "aria-label": "Labels found (choose one to filter)" },
      order.map((i, rank) => el("li", { hidden: rank >= FOUND_SHOWN }, [
        el("button", { type: "button", "data-label": i, "aria-pressed": "false",
          title: "Show the videos with " + labels[i] }, [
          swatch(i), el("span", { class: "name", text: labels[i] }),
          el("span", { class: "n", text: String(data.found[i]) }),
        ]),
      ])));
    if (order.length > FOUND_SHOWN) {
      const more = el("button", { type: "button", class: "chip more", "aria-expanded": "false", text: "all " + order.length + " labels" });
      more.addEventListener("click", () => {
        const open = more.getAttribute("aria-expanded") !== "true";
        Array.from(found.children).forEach((li, rank) => { li.hidden = !open && rank >= FOUND_SHOWN; });
        more.setAttribute("aria-expanded", String(open));
        more.textContent = open ? "fewer labels" : "all " + order.length + " labels";
      });
      found.append(el("li", { class: "toggle" }, [more]));
    }
    const settings = el("dl", { class: "settings" });
    for (const m of data.models) {
      settings.append(el("dt", { text: "model" }), el("dd", { text: m.name + " " + m.version }));
      settings.append(el("dt", { text: "provider" }), el("dd", { text: m.provider }));
      settings.append(el("dt", { text: "sha256" }), el("dd", { class: "mono", text: m.sha256.slice(0, 16) + "…", title: m.sha256 }));
    }
    for (const [name, value] of data.settings) settings.append(el("dt", { text: name }), el("dd", { text: value }));
    if (data.command) settings.append(el("dt", { text: "command" }), el("dd", { class: "mono", text: data.command }));
    const section = el("section", { class: "overview", "aria-labelledby": "run-title" }, [
      el("div", null, [el("h2", { id: "run-title", text: "The run" }), counts,
        el("h2", { text: "Labels found" }),
        el("p", { class: "muted", text: "Top-1 of a video or on its timeline; the number of videos. Choose one to filter." }),
        found]),
      el("div", null, [el("h2", { text: "Model and settings" }), settings]),
    ]);
    found.addEventListener("click", (event) => {
      if (event.target.closest(".toggle")) return;
      const button = event.target.closest("button[data-label]");
      if (!button) return;
      const i = Number(button.getAttribute("data-label"));
      state.label = state.label === i ? -1 : i;
      labelSelect.value = String(state.label);
      update(true);
    });
    return section;
  }

  // --- evaluation ---------------------------------------------------------------------------
  function evaluation(e) {
    const table = (id, heading, head, rows) => [
      el("h3", { id: id, text: heading }),
      el("table", { "aria-labelledby": id }, [
        el("thead", null, [el("tr", null, head.map(([text, cls]) => el("th", { class: cls, text: text })))]),
        el("tbody", null, rows),
      ]),
    ];
    const accuracy = el("ul", { class: "accuracy" }, [
      el("li", null, [el("strong", { text: e.videos ? fmtPct(e.top1 / e.videos) : "n/a" }), "top-1 (" + e.top1 + "/" + e.videos + ")"]),
      el("li", null, [el("strong", { text: e.videos ? fmtPct(e.top5 / e.videos) : "n/a" }), "top-5 (" + e.top5 + "/" + e.videos + ")"]),
    ]);
    const perClass = table("eval-class", "Accuracy per class",
      [["label"], ["videos", "num"], ["top-1", "num"], ["top-5", "num"]],
      e.per_class.map((c) => el("tr", null, [
        el("td", { text: c.label }), el("td", { class: "num", text: String(c.videos) }),
        el("td", { class: "num", text: fmtPct(c.top1 / c.videos) }), el("td", { class: "num", text: fmtPct(c.top5 / c.videos) }),
      ])));
    // Confusion matrix: rows are the true labels, columns the top-1; cells shaded by share of the row.
    const rowsTotal = e.matrix.map((r) => r.reduce((a, b) => a + b, 0));
    const matrix = el("table", { class: "confusion", "aria-labelledby": "eval-matrix" }, [
      el("thead", null, [el("tr", null, [el("th", { scope: "col", text: "true ↓  top-1 →" })]
        .concat(e.columns.map((c) => el("th", { scope: "col", class: "col", text: c }))))]),
      el("tbody", null, e.rows.map((r, i) => el("tr", null, [el("th", { scope: "row", text: r })].concat(
        e.columns.map((c, j) => {
          const n = e.matrix[i][j];
          const cell = el("td", { class: r === c ? "diag" : null, text: n ? String(n) : "", title: r + " → " + c + ": " + n });
          if (n) {
            const share = n / Math.max(1, rowsTotal[i]);
            cell.style.background = (r === c ? "rgba(47, 111, 179, " : "rgba(196, 40, 60, ") + (0.15 + 0.6 * share).toFixed(2) + ")";
          }
          return cell;
        }))))),
    ]);
    const mistakes = table("eval-mistakes", "Mistakes (" + e.mistakes.length + ")",
      [["video"], ["true label"], ["top-3"]],
      e.mistakes.map((m) => el("tr", { class: "mistake" }, [
        el("td", { text: m.source }), el("td", { text: m.label }),
        el("td", { text: m.top.map((t) => t[0] + " " + fmtScore(t[1])).join(", ") }),
      ])));
    const section = el("section", { class: "evaluation", "aria-labelledby": "eval-title" }, [
      el("h2", { id: "eval-title", text: "Evaluation" }),
      el("p", { class: "muted", text: e.data + " · " + e.model + " · " + number(e.videos) + " videos counted" }),
      el("div", { class: "eval-grid" }, [
        el("div", null, [accuracy, ...perClass]),
        el("div", null, [el("h3", { id: "eval-matrix", text: "Confusion matrix: true label (rows), top-1 (columns)" }),
          el("div", { class: "confusion-wrap" }, [matrix])]),
      ]),
      ...mistakes,
    ]);
    const notCounted = [];
    for (const s of e.unlabelled) notCounted.push(el("li", { text: s + ": no label" }));
    for (const u of e.unknown) for (const s of u.sources) notCounted.push(el("li", { text: s + ": label “" + u.label + "” is not one of the model's" }));
    for (const x of e.errors) notCounted.push(el("li", { text: x.source + ": " + x.error }));
    if (notCounted.length) section.append(el("h3", { text: "Not counted" }), el("ul", { class: "not-counted" }, notCounted));
    return section;
  }

  // --- controls -----------------------------------------------------------------------------
  const search = el("input", { type: "search", id: "q", placeholder: "file name or label", autocomplete: "off" });
  const labelSelect = el("select", { id: "label" }, [el("option", { value: "-1", text: "any label" })].concat(
    labels.map((_, i) => i).filter((i) => data.found[i] > 0)
      .sort((a, b) => labels[a].localeCompare(labels[b]))
      .map((i) => el("option", { value: String(i), text: labels[i] + " (" + data.found[i] + ")" }))));
  const minScore = el("input", { type: "number", id: "min-score", min: "0", max: "1", step: "0.05", value: "0" });
  const statusSelect = el("select", { id: "status" }, [
    ["all", "all videos"], ["classified", "classified"], ["failed", "failed"], ["warnings", "with warnings"],
    ["unsure", "unsure"], ...(data.evaluation ? [["mistakes", "mistakes"]] : []),
  ].map(([value, text]) => el("option", { value: value, text: text })));
  const sortSelect = el("select", { id: "sort" }, [
    ["input", "input order"], ["name", "file name"], ["score-desc", "top-1 score, highest first"],
    ["score-asc", "top-1 score, lowest first"], ["duration", "duration, longest first"], ["problems", "problems first"],
  ].map(([value, text]) => el("option", { value: value, text: text })));
  const pageSizeSelect = el("select", { id: "page-size" },
    PAGE_SIZES.map((n) => el("option", { value: String(n), text: n ? String(n) : "all", selected: n === state.pageSize })));
  const shown = el("p", { id: "shown", role: "status", "aria-live": "polite" });
  const controls = el("section", { class: "controls", "aria-label": "Search, filter and sort" }, [
    el("label", null, ["Search", search]),
    el("label", null, ["Label", labelSelect]),
    el("label", null, ["Min. top-1 score", minScore]),
    el("label", null, ["Show", statusSelect]),
    el("label", null, ["Sort by", sortSelect]),
    el("label", null, ["Per page", pageSizeSelect]),
    shown,
  ]);
  const keys = el("p", { class: "keys" }, [
    el("kbd", { text: "/" }), " search · ", el("kbd", { text: "j" }), " / ", el("kbd", { text: "k" }),
    " next / previous video · ", el("kbd", { text: "Enter" }), " open a video's details · ",
    el("kbd", { text: "[" }), " / ", el("kbd", { text: "]" }), " previous / next page",
  ]);
  const list = el("ol", { class: "videos", id: "videos", "aria-label": "Videos", tabindex: "-1" });
  const pagerTop = el("nav", { class: "pager", "aria-label": "Pages (top)" });
  const pagerBottom = el("nav", { class: "pager", "aria-label": "Pages" });

  // --- one video ----------------------------------------------------------------------------
  // Every strip has as many places as the longest one, so a short video's few frames keep their size.
  const slots = videos.reduce((most, v) => Math.max(most, v.thumbs ? v.thumbs.length : 0), 1);
  // The pictures are read after this script has run (they are most of the file): until then a
  // strip shows grey places of the right size, filled in by window.vidclassImages().
  let images = null;
  const JPEG = "data:image/jpeg;base64,";
  function strip(v) {
    if (!v.thumbs || !v.thumbs.length) return el("p", { class: "nothumbs", text: v.error ? "" : "no thumbnails" });
    const node = el("div", { class: "strip" }, v.thumbs.map((t, i) => {
      const img = el("img", { alt: "frame at " + fmtTime(t[0]), width: t[1], height: t[2], decoding: "async", "data-i": i });
      img.style.setProperty("--ratio", t[1] + " / " + t[2]);
      if (images && images[v.id]) img.src = JPEG + images[v.id][i];
      return el("figure", null, [img, el("figcaption", { text: fmtTime(t[0]) })]);
    }));
    node.style.setProperty("--slots", slots);
    return node;
  }
  // Called after each block of pictures the parser has read (see build_report): shows them.
  window.vidclassImages = function () {
    images = images || {};
    let last = false;
    for (const block of document.querySelectorAll("script.vidclass-images:not([data-read])")) {
      Object.assign(images, JSON.parse(block.textContent));
      block.setAttribute("data-read", "");
      last = last || block.hasAttribute("data-last");
    }
    for (const [id, item] of cards) {
      for (const img of item.querySelectorAll("img[data-i]:not([src])")) {
        if (images[id]) img.src = JPEG + images[id][Number(img.getAttribute("data-i"))];
      }
    }
    if (last) {
      performance.mark("vidclass-images");
      document.body.setAttribute("data-images", "true");
    }
  };

  function timeline(v) {
    const end = Math.max(v.duration_s, ...v.bars.map((b) => b[1]), 1e-9);
    const bar = el("div", { class: "timeline", role: "img",
      "aria-label": "Timeline (" + (v.timeline === "segments" ? "segments" : "top-1 of each window") + "): " +
        v.bars.map((b) => labelText(b[2]) + " " + fmtTime(b[0]) + "–" + fmtTime(b[1])).join("; ") });
    for (const b of v.bars) {
      const piece = el("div", { class: b[2] < 0 ? "bar gap" : "bar",
        "data-tip": labelText(b[2]) + "\n" + fmtTime(b[0]) + " – " + fmtTime(b[1]) + " · score " + fmtScore(b[3]) });
      piece.style.left = (100 * b[0] / end) + "%";
      piece.style.width = (100 * (b[1] - b[0]) / end) + "%";
      if (b[2] >= 0) {
        piece.style.background = colours[b[2]];
        // From windows, how sure each window is shows as how solid its colour is.
        if (v.timeline === "windows") piece.style.opacity = (0.3 + 0.7 * b[3]).toFixed(2);
      }
      bar.append(piece);
    }
    const legendLabels = [];
    for (const b of v.bars) if (!legendLabels.includes(b[2])) legendLabels.push(b[2]);
    return [
      bar,
      el("div", { class: "axis", "aria-hidden": "true" }, [el("span", { text: "0" }),
        el("span", { text: v.timeline === "segments" ? "segments" : "top-1 of each window" }),
        el("span", { text: fmtTime(end) })]),
      el("ul", { class: "legend", "aria-label": "Timeline labels" },
        legendLabels.map((i) => el("li", null, [swatch(i), el("span", { text: labelText(i) })]))),
    ];
  }

  function topList(v) {
    return el("ol", { class: "top", "aria-label": "Top labels" }, v.top.map((t) => {
      const fill = el("div", { class: "fill" });
      fill.style.width = (100 * Math.min(1, Math.max(0, t[1]))) + "%";
      return el("li", null, [
        el("span", { class: "what" }, [swatch(t[0]), el("span", { class: "label", text: labels[t[0]] })]),
        el("span", { class: "score", text: fmtScore(t[1]) }),
        el("div", { class: "track", "aria-hidden": "true" }, [fill]),
      ]);
    }));
  }

  function details(v) {
    const rows = v.bars.map((b) => el("tr", null, [
      el("td", { class: "num", text: fmtTime(b[0]) }), el("td", { class: "num", text: fmtTime(b[1]) }),
      el("td", { text: labelText(b[2]) }), el("td", { class: "num", text: fmtScore(b[3]) }),
    ]));
    return el("details", null, [
      el("summary", { text: "Details" }),
      el("table", null, [
        el("caption", { class: "muted", text: v.timeline === "segments" ? "Segments" : "Top-1 of each window" }),
        el("thead", null, [el("tr", null, [el("th", { class: "num", text: "from" }), el("th", { class: "num", text: "to" }),
          el("th", { text: "label" }), el("th", { class: "num", text: "score" })])]),
        el("tbody", null, rows),
      ]),
      el("p", { class: "muted", text: v.frames + " frames at " + v.frame_rate + " fps fed to the model; window " +
        v.window_frames + ", hop " + v.hop_frames + " frames; " + v.windows + (v.windows === 1 ? " window" : " windows") +
        (v.short ? "; shorter than one window" : "") }),
      el("p", { class: "mono", text: v.source }),
    ]);
  }

  // Each video's part is built once and kept: filtering back and forth, or paging, reuses it (and
  // keeps its details open or closed as they were).
  const cards = new Map();
  function card(v) {
    if (!cards.has(v.id)) cards.set(v.id, buildCard(v));
    return cards.get(v.id);
  }

  function buildCard(v) {
    const nameId = "video-" + v.id + "-name";
    const badges = [];
    if (v.error) badges.push(el("span", { class: "badge error", text: "failed" }));
    if (v.mistake !== undefined) badges.push(el("span", { class: "badge mistake", text: "labelled " + v.mistake }));
    if (isUnsure(v)) badges.push(el("span", { class: "badge unsure", text: "unsure" }));
    if (v.short) badges.push(el("span", { class: "badge short", text: "short" }));
    if (v.warnings && v.warnings.length) badges.push(el("span", { class: "badge warn", text: v.warnings.length === 1 ? "warning" : v.warnings.length + " warnings" }));
    const facts = v.error ? "" : fmtTime(v.duration_s) + " · " + (top1(v) ? labels[top1(v)[0]] + " " + fmtScore(top1(v)[1]) : "");
    const head = el("div", { class: "vhead" }, [
      el("h3", { id: nameId }, [el("span", { class: "name", text: v.name })]),
      el("span", { class: "folder", text: v.folder }),
      ...badges,
      el("span", { class: "facts", text: facts }),
    ]);
    const item = el("li", { class: v.error ? "video failed" : "video", id: "video-" + v.id, "data-id": v.id, "aria-labelledby": nameId }, [head]);
    if (v.error) {
      item.append(el("ul", { class: "problems" }, [el("li", { class: "error", text: v.error })]));
      return item;
    }
    item.append(el("div", { class: "vbody" }, [
      el("div", { class: "when" }, [strip(v), ...timeline(v)]),
      topList(v),
    ]));
    if (v.warnings.length) item.append(el("ul", { class: "problems" }, v.warnings.map((w) => el("li", { class: "warning", text: w }))));
    item.append(details(v));
    return item;
  }

  // --- filtering, sorting, paging -----------------------------------------------------------
  function matches(v) {
    if (state.query && !v.haystack.includes(state.query)) return false;
    if (state.label >= 0 && !(v.labelSet && v.labelSet.has(state.label))) return false;
    if (state.minScore > 0 && (v.error || !top1(v) || top1(v)[1] < state.minScore)) return false;
    switch (state.status) {
      case "classified": return !v.error;
      case "failed": return Boolean(v.error);
      case "warnings": return Boolean(v.warnings && v.warnings.length);
      case "unsure": return isUnsure(v);
      case "mistakes": return v.mistake !== undefined;
      default: return true;
    }
  }
  const score = (v) => (top1(v) ? top1(v)[1] : -1);
  const trouble = (v) => (v.error ? 3 : v.mistake !== undefined ? 2 : v.warnings && v.warnings.length ? 1.5 : isUnsure(v) ? 1 : 0);
  const orders = {
    input: (a, b) => a.id - b.id,
    name: (a, b) => a.name.localeCompare(b.name) || a.source.localeCompare(b.source) || a.id - b.id,
    "score-desc": (a, b) => score(b) - score(a) || a.id - b.id,
    "score-asc": (a, b) => (a.error ? 2 : score(a)) - (b.error ? 2 : score(b)) || a.id - b.id,
    duration: (a, b) => (b.duration_s || -1) - (a.duration_s || -1) || a.id - b.id,
    problems: (a, b) => trouble(b) - trouble(a) || score(a) - score(b) || a.id - b.id,
  };

  let selected = videos;
  let shownIds = null;
  function pager(nav, pages) {
    nav.replaceChildren();
    if (pages <= 1) return;
    const prev = el("button", { type: "button", "data-page": state.page - 1, disabled: state.page === 0, text: "← previous" });
    const next = el("button", { type: "button", "data-page": state.page + 1, disabled: state.page >= pages - 1, text: "next →" });
    nav.append(prev, el("span", { text: "page " + (state.page + 1) + " of " + pages }), next);
  }

  function update(resetPage) {
    const t0 = performance.now();
    if (resetPage) state.page = 0;
    selected = videos.filter(matches).sort(orders[state.sort]);
    const size = state.printing || !state.pageSize ? selected.length || 1 : state.pageSize;
    const pages = Math.max(1, Math.ceil(selected.length / size));
    state.page = Math.min(state.page, pages - 1);
    const first = state.page * size;
    const onPage = selected.slice(first, first + size);
    // The same videos as before (a keystroke that changes nothing on this page): leave the list be.
    const ids = onPage.map((v) => v.id).join(",");
    if (ids !== shownIds || !onPage.length) {
      const fragment = document.createDocumentFragment();
      for (const v of onPage) fragment.append(card(v));
      list.replaceChildren(fragment);
      if (!onPage.length) {
        list.append(el("li", { class: "empty", text: videos.length ? "No video matches these filters." : "This report has no videos." }));
      }
      shownIds = ids;
    }
    shown.textContent = selected.length === videos.length && !onPage.length ? "No videos." :
      (onPage.length ? "Showing " + number(first + 1) + "–" + number(first + onPage.length) + " of " : "") +
      number(selected.length) + " matching" + " (" + number(videos.length) + " videos in the report)";
    pager(pagerTop, pages);
    pager(pagerBottom, pages);
    for (const button of document.querySelectorAll("#found button")) {
      button.setAttribute("aria-pressed", String(Number(button.getAttribute("data-label")) === state.label));
    }
    document.body.setAttribute("data-update-ms", (performance.now() - t0).toFixed(2));
  }

  search.addEventListener("input", () => { state.query = search.value.trim().toLowerCase(); update(true); });
  labelSelect.addEventListener("change", () => { state.label = Number(labelSelect.value); update(true); });
  minScore.addEventListener("input", () => {
    const value = Number(minScore.value);
    state.minScore = Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
    update(true);
  });
  statusSelect.addEventListener("change", () => { state.status = statusSelect.value; update(true); });
  sortSelect.addEventListener("change", () => { state.sort = sortSelect.value; update(true); });
  pageSizeSelect.addEventListener("change", () => { state.pageSize = Number(pageSizeSelect.value); update(true); });
  function turnTo(page, focus) {
    state.page = page;
    update(false);
    if (focus) {
      const summary = list.querySelector("summary");
      (summary || list).focus();
    }
    list.scrollIntoView({ block: "start" });
  }
  for (const nav of [pagerTop, pagerBottom]) {
    nav.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-page]");
      if (button && !button.disabled) turnTo(Number(button.getAttribute("data-page")), nav === pagerBottom);
    });
  }

  // Keyboard: / search, j/k next/previous video, [ ] pages. Typing in a field is left alone.
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, select, textarea")) {
      if (event.key === "Escape" && target === search) { search.value = ""; state.query = ""; update(true); }
      return;
    }
    const items = Array.from(list.querySelectorAll("li.video"));
    const current = target.closest ? target.closest("li.video") : null;
    const at = current ? items.indexOf(current) : -1;
    let goTo = null;
    if (event.key === "/") { event.preventDefault(); search.focus(); return; }
    if (event.key === "j") goTo = Math.min(items.length - 1, at + 1);
    else if (event.key === "k") goTo = Math.max(0, at - 1);
    else if (event.key === "]" || event.key === "[") {
      const pages = Math.max(1, Math.ceil(selected.length / (state.pageSize || selected.length || 1)));
      const page = state.page + (event.key === "]" ? 1 : -1);
      if (page >= 0 && page < pages) turnTo(page, true);
      return;
    }
    if (goTo === null || !items.length) return;
    event.preventDefault();
    const item = items[goTo];
    (item.querySelector("summary") || item).focus();
    item.scrollIntoView({ block: "nearest" });
  });

  // Hover on the timeline: label, times and score.
  const tooltip = document.getElementById("tooltip");
  list.addEventListener("mouseover", (event) => {
    const piece = event.target.closest("[data-tip]");
    if (!piece) { tooltip.hidden = true; return; }
    tooltip.replaceChildren();
    const lines = piece.getAttribute("data-tip").split("\n");
    tooltip.append(el("strong", { text: lines[0] }), el("br"), lines.slice(1).join(" "));
    tooltip.hidden = false;
  });
  list.addEventListener("mousemove", (event) => {
    if (tooltip.hidden) return;
    const x = Math.min(event.clientX + 12, window.innerWidth - tooltip.offsetWidth - 8);
    tooltip.style.left = Math.max(4, x) + "px";
    tooltip.style.top = (event.clientY + 16) + "px";
  });
  list.addEventListener("mouseleave", () => { tooltip.hidden = true; });

  // Printing: every video that matches, not just this page.
  window.addEventListener("beforeprint", () => { state.printing = true; update(false); });
  window.addEventListener("afterprint", () => { state.printing = false; update(false); });

  main.append(overview());
  if (data.evaluation) main.append(evaluation(data.evaluation));
  main.append(el("h2", { id: "videos-title", text: "Videos" }), controls, keys, pagerTop, list, pagerBottom);
  update(true);
  performance.mark("vidclass-ready");
  document.body.setAttribute("data-ready", "true");
  // The frame after the first page was drawn: what scripts/bench_report.py reports as "painted".
  requestAnimationFrame(() => setTimeout(() => performance.mark("vidclass-painted"), 0));
})();
