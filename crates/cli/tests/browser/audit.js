// Our small accessibility audit, run in the page by the browser tests (harness.rs). It is the
// body of a function: it returns one line per problem found, an empty array when none.
//
// Checked: `lang` on <html>; exactly one <h1>; alt text on images; a label on every form
// field; a name on every button and link; text contrast (WCAG AA: 4.5:1, 3:1 for large
// text); and a page no wider than the window.
const problems = [];

// A short description of an element, to find it in the page.
const describe = (el) => {
  let d = el.tagName.toLowerCase();
  if (el.id) d += "#" + el.id;
  if (typeof el.className === "string" && el.className.trim()) {
    d += "." + el.className.trim().split(/\s+/).join(".");
  }
  const text = (el.innerText || el.value || "").trim().replace(/\s+/g, " ");
  if (text) d += ' "' + (text.length > 40 ? text.slice(0, 40) + "…" : text) + '"';
  return d;
};

// Hidden from everyone: not rendered, or hidden from assistive technology.
const hidden = (el) => {
  if (el.closest('[aria-hidden="true"], [hidden]')) return true;
  const s = getComputedStyle(el);
  return s.display === "none" || s.visibility === "hidden" || el.getClientRects().length === 0;
};

const textOf = (ids) =>
  ids
    .split(/\s+/)
    .map((id) => document.getElementById(id))
    .filter((e) => e)
    .map((e) => e.textContent)
    .join(" ")
    .trim();

// The accessible name, roughly as browsers compute it: aria-labelledby, aria-label, <label>s,
// then the content (text, and alt texts of images inside), then title.
const nameOf = (el) => {
  const labelledby = el.getAttribute("aria-labelledby");
  if (labelledby && textOf(labelledby)) return textOf(labelledby);
  const label = (el.getAttribute("aria-label") || "").trim();
  if (label) return label;
  if (el.labels && el.labels.length) {
    const t = Array.from(el.labels)
      .map((l) => l.textContent)
      .join(" ")
      .trim();
    if (t) return t;
  }
  if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type)) {
    return (el.value || (el.type === "submit" ? "Submit" : "")).trim();
  }
  if (el.tagName === "INPUT" && el.type === "image") return (el.alt || "").trim();
  const content = [(el.textContent || "").trim()];
  el.querySelectorAll("img[alt], [aria-label]").forEach((c) =>
    content.push((c.getAttribute("alt") || c.getAttribute("aria-label") || "").trim()),
  );
  const t = content.join(" ").trim();
  if (t) return t;
  return (el.getAttribute("title") || "").trim();
};

// --- Document ---------------------------------------------------------------------------
if (!(document.documentElement.getAttribute("lang") || "").trim()) {
  problems.push("<html> has no lang attribute");
}
const h1s = document.querySelectorAll("h1").length;
if (h1s !== 1) problems.push("the page has " + h1s + " <h1> elements, not exactly one");

// --- Images -----------------------------------------------------------------------------
document.querySelectorAll("img").forEach((img) => {
  const role = img.getAttribute("role");
  if (role === "presentation" || role === "none" || img.closest('[aria-hidden="true"]')) return;
  if (!(img.getAttribute("alt") || "").trim()) {
    problems.push("image without alt text: " + describe(img) + " src=" + img.getAttribute("src"));
  }
});

// --- Form fields ------------------------------------------------------------------------
document.querySelectorAll("input, select, textarea").forEach((el) => {
  if (el.tagName === "INPUT" && ["hidden", "submit", "button", "reset", "image"].includes(el.type)) {
    return;
  }
  if (hidden(el)) return;
  const labelledby = el.getAttribute("aria-labelledby");
  const labelled =
    (el.labels && Array.from(el.labels).some((l) => l.textContent.trim())) ||
    (el.getAttribute("aria-label") || "").trim() ||
    (labelledby && textOf(labelledby));
  if (!labelled) problems.push("form field without a label: " + describe(el));
});

// --- Buttons and links ------------------------------------------------------------------
document
  .querySelectorAll('button, a[href], [role="button"], [role="link"], input[type="submit"], input[type="button"], input[type="reset"], input[type="image"]')
  .forEach((el) => {
    if (hidden(el)) return;
    if (!nameOf(el)) {
      const what = el.tagName === "A" || el.getAttribute("role") === "link" ? "link" : "button";
      problems.push(what + " without an accessible name: " + describe(el) + (el.href ? " href=" + el.getAttribute("href") : ""));
    }
  });

// --- Contrast ---------------------------------------------------------------------------
const canvas = document.createElement("canvas");
canvas.width = canvas.height = 1;
const ctx = canvas.getContext("2d", { willReadFrequently: true });

// [r, g, b, a] with r, g, b in 0..255 and a in 0..1, from any CSS color.
const parse = (css) => {
  const m = css.match(/^rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:\s*[,/]\s*([\d.]+)(%?))?\s*\)$/);
  if (m) {
    let a = m[4] === undefined ? 1 : parseFloat(m[4]);
    if (m[5] === "%") a /= 100;
    return [parseFloat(m[1]), parseFloat(m[2]), parseFloat(m[3]), a];
  }
  // Other notations (color(), oklch(), ...): let the canvas convert it.
  ctx.clearRect(0, 0, 1, 1);
  ctx.fillStyle = css;
  ctx.fillRect(0, 0, 1, 1);
  const d = ctx.getImageData(0, 0, 1, 1).data;
  return [d[0], d[1], d[2], d[3] / 255];
};

// `top` drawn over the opaque `bottom`.
const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);

// The opaque color behind `el`: its background and its ancestors', composed over white.
const backgroundOf = (el) => {
  const layers = [];
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) layers.push(c);
    if (c[3] >= 1) break;
  }
  let color = [255, 255, 255, 1];
  for (let i = layers.length - 1; i >= 0; i--) color = over(layers[i], color);
  return color;
};

const luminance = (c) => {
  const [r, g, b] = c.slice(0, 3).map((v) => {
    v /= 255;
    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};

const hex = (c) => "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");

const hasOwnText = (el) =>
  Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim()) ||
  (["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName) &&
    !["hidden", "checkbox", "radio", "range", "color", "file", "image"].includes(el.type) &&
    (el.value || el.placeholder || "").trim());

document.querySelectorAll("body *").forEach((el) => {
  if (["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "OPTION"].includes(el.tagName)) return;
  if (!hasOwnText(el) || hidden(el) || el.disabled) return;
  const s = getComputedStyle(el);
  const bg = backgroundOf(el);
  const fg = over(parse(s.color), bg);
  const [l1, l2] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
  const ratio = (l1 + 0.05) / (l2 + 0.05);
  const size = parseFloat(s.fontSize);
  const bold = parseInt(s.fontWeight, 10) >= 700;
  const large = size >= 24 || (bold && size >= 18.66);
  const needed = large ? 3 : 4.5;
  if (ratio < needed) {
    problems.push(
      "text contrast " + ratio.toFixed(2) + ":1 (needs " + needed + ":1): " + describe(el) +
        ", " + hex(fg) + " on " + hex(bg) + ", " + size + "px" + (bold ? " bold" : ""),
    );
  }
});

// --- Width ------------------------------------------------------------------------------
const width = window.innerWidth;
if (document.documentElement.scrollWidth > width) {
  const wide = Array.from(document.querySelectorAll("body *"))
    .filter((el) => !hidden(el) && el.getBoundingClientRect().right > width + 0.5)
    .slice(0, 5)
    .map(describe);
  problems.push(
    "page is wider than the screen: " + document.documentElement.scrollWidth + " px in a " + width +
      " px window" + (wide.length ? "; past the edge: " + wide.join(", ") : ""),
  );
}

return problems;
