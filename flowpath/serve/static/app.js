// The flowpath page: parse a chart (POST /v1/parse), attribute an answer (POST /v1/attribute), draw both.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const EXAMPLE = {
  url: "/static/example.png",
  name: "order_fulfilment.png",
  question: "What happens when the card payment is declined?",
  answer: "The customer is emailed to update the payment details, and the card is charged again.",
};
const $ = (id) => document.getElementById(id);
const state = { file: null, graph: null, result: null, imageUrl: null };

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function setStatus(text) {
  $("status").textContent = text;
}

async function postForm(url, form) {
  const response = await fetch(url, { method: "POST", body: form });
  const body = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
  if (!response.ok) {
    const retry = response.headers.get("Retry-After");
    throw new Error(body.detail + (retry ? ` (retry in ${retry} s)` : ""));
  }
  return body;
}

function svgElement(name, attrs, parent) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  parent.appendChild(el);
  return el;
}

function drawGraph(graph, size) {
  const svg = $("overlay");
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${size[0]} ${size[1]}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const centre = {};
  for (const node of graph.nodes) {
    if (!node.bbox) continue;
    const [x1, y1, x2, y2] = node.bbox;
    centre[node.id] = [(x1 + x2) / 2, (y1 + y2) / 2];
  }
  for (const edge of graph.edges) {
    const points = (edge.attrs && edge.attrs.polyline) ||
      (centre[edge.source] && centre[edge.target] ? [centre[edge.source], centre[edge.target]] : null);
    if (!points) continue;
    svgElement("polyline", {
      class: "edge", points: points.map((p) => p.join(",")).join(" "),
      "data-source": edge.source, "data-target": edge.target,
    }, svg);
  }
  for (const node of graph.nodes) {
    if (!node.bbox) continue;
    const [x1, y1, x2, y2] = node.bbox;
    const rect = svgElement("rect", {
      class: "node", x: x1, y: y1, width: x2 - x1, height: y2 - y1, "data-node-id": node.id,
    }, svg);
    svgElement("title", {}, rect).textContent = `${node.id} (${node.kind}): ${node.text}`;
  }
}

// The grounding nodes best first (the API lists them in flow order, as the library does; ties keep that order).
function ranked(result) {
  return [...result.nodes].sort((a, b) => b.score - a.score);
}

function drawResult(result) {
  const svg = $("overlay");
  svg.querySelectorAll(".grounded, .on-path").forEach((el) => el.classList.remove("grounded", "on-path"));
  svg.querySelectorAll("g.rank").forEach((el) => el.remove());
  ranked(result).forEach((node, i) => {
    const rect = svg.querySelector(`rect[data-node-id="${CSS.escape(node.id)}"]`);
    if (!rect) return;
    rect.classList.add("grounded");
    const g = svgElement("g", { class: "rank" }, svg);
    const x = Number(rect.getAttribute("x"));
    const y = Number(rect.getAttribute("y"));
    svgElement("rect", { class: "tag", x: x - 4, y: Math.max(0, y - 40), width: 64, height: 36, rx: 6 }, g);
    svgElement("text", { x: x + 6, y: Math.max(28, y - 12) }, g).textContent = String(i + 1);
  });
  for (const edge of result.edges) {
    const line = svg.querySelector(
      `polyline[data-source="${CSS.escape(edge.source)}"][data-target="${CSS.escape(edge.target)}"]`);
    if (line) line.classList.add("on-path");
  }
}

function listResult(result) {
  const list = $("nodes");
  list.replaceChildren();
  for (const node of ranked(result)) {
    const item = document.createElement("li");
    item.className = "grounded";
    item.dataset.nodeId = node.id;
    item.tabIndex = 0;
    item.title = node.text;
    item.innerHTML = "<code></code> <span class=\"text\"></span> <span class=\"score\"></span>";
    item.querySelector("code").textContent = node.id;
    item.querySelector(".text").textContent = node.text || "(no text)";
    item.querySelector(".score").textContent = `score ${node.score.toFixed(2)}`;
    for (const [on, off] of [["mouseenter", "mouseleave"], ["focus", "blur"]]) {
      item.addEventListener(on, () => highlight(node.id, true));
      item.addEventListener(off, () => highlight(node.id, false));
    }
    list.appendChild(item);
  }
  $("path").textContent = result.edges.length
    ? result.edges.map((e) => `${e.source} → ${e.target}${e.label ? ` [${e.label}]` : ""}`).join(", ")
    : "(no edges between the grounding nodes)";
  $("reason").textContent = result.reason;
  const warnings = $("warnings");
  warnings.replaceChildren(...result.warnings.map((w) => Object.assign(document.createElement("li"), { textContent: w })));
  const t = result.timings;
  $("timings").textContent = `intent ${result.intent}; parse ${t.parse_s.toFixed(2)} s${t.cached ? " (cached)" : ""}, ` +
    `attribution ${t.attribute_s.toFixed(2)} s, total ${t.total_s.toFixed(2)} s`;
  $("result").hidden = false;
}

function highlight(id, on) {
  const rect = $("overlay").querySelector(`rect[data-node-id="${CSS.escape(id)}"]`);
  if (rect) rect.classList.toggle("hover", on);
}

async function chooseFile(file) {
  showError("");
  state.file = file;
  state.graph = null;
  $("mermaid").value = "";
  $("result").hidden = true;
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  state.imageUrl = URL.createObjectURL(file);
  $("chart-img").src = state.imageUrl;
  $("overlay").replaceChildren();
  $("chart").hidden = false;
  setStatus(`Reading ${file.name}…`);
  const form = new FormData();
  form.append("image", file, file.name);
  try {
    const parsed = await postForm("/v1/parse", form);
    state.graph = parsed.graph;
    drawGraph(parsed.graph, parsed.image_size);
    $("parse-info").textContent = `${parsed.graph.nodes.length} nodes, ${parsed.graph.edges.length} connectors ` +
      `found in ${parsed.timings.total_s.toFixed(2)} s${parsed.timings.cached ? " (cached)" : ""}.`;
    setStatus("Chart read. Type the question and the answer.");
  } catch (err) {
    setStatus("");
    showError(err.message);
  }
}

async function attribute(event) {
  event.preventDefault();
  showError("");
  const mermaid = $("mermaid").value.trim();
  const question = $("question").value.trim();
  const answer = $("answer").value.trim();
  if (!state.file && !mermaid) return showError("Choose a chart image (or paste Mermaid text) first.");
  if (!question || !answer) return showError("Type both the question and the answer.");
  const form = new FormData();
  if (mermaid) {
    form.append("graph", mermaid);
    $("chart").hidden = true;
  } else {
    form.append("image", state.file, state.file.name);
  }
  form.append("question", question);
  form.append("answer", answer);
  form.append("policy", $("policy").value);
  $("submit").disabled = true;
  setStatus("Finding the grounding nodes…");
  try {
    state.result = await postForm("/v1/attribute", form);
    if (!mermaid) drawResult(state.result);
    listResult(state.result);
    setStatus(`${state.result.nodes.length} grounding nodes.`);
  } catch (err) {
    setStatus("");
    showError(err.message);
  } finally {
    $("submit").disabled = false;
  }
}

function downloadJson() {
  if (!state.result) return;
  const blob = new Blob([JSON.stringify(state.result, null, 2)], { type: "application/json" });
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: "attribution.json" });
  link.click();
  URL.revokeObjectURL(link.href);
}

async function loadExample() {
  showError("");
  try {
    const response = await fetch(EXAMPLE.url);
    if (!response.ok) throw new Error(`could not load the example chart (HTTP ${response.status})`);
    const blob = await response.blob();
    $("question").value = EXAMPLE.question;
    $("answer").value = EXAMPLE.answer;
    await chooseFile(new File([blob], EXAMPLE.name, { type: "image/png" }));
  } catch (err) {
    showError(err.message);
  }
}

function setUp() {
  $("image").addEventListener("change", (e) => e.target.files[0] && chooseFile(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) chooseFile(e.dataTransfer.files[0]);
  });
  $("mermaid").addEventListener("input", () => { if ($("mermaid").value.trim()) state.file = null; });
  $("example").addEventListener("click", loadExample);
  $("ask").addEventListener("submit", attribute);
  $("download").addEventListener("click", downloadJson);
}

document.addEventListener("DOMContentLoaded", setUp);
