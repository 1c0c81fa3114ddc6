// Small DOM builder: every piece of data reaches the page through textContent or attributes,
// never through innerHTML.

export function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  const { className, text, attrs, dataset, on, title } = options;
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (title) node.title = title;
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [name, value] of Object.entries(dataset || {})) {
    node.dataset[name] = String(value);
  }
  for (const [event, handler] of Object.entries(on || {})) {
    node.addEventListener(event, handler);
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

// A popup/tooltip body: a title line and label/value rows (empty values are left out).
export function infoCard(title, rows, { subtitle, className } = {}) {
  const card = el("div", { className: `info-card ${className || ""}`.trim() });
  card.append(el("div", { className: "info-card-title", text: title }));
  if (subtitle) card.append(el("div", { className: "info-card-sub", text: subtitle }));
  const list = el("dl", { className: "info-card-rows" });
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    list.append(el("dt", { text: label }), el("dd", { text: value }));
  }
  card.append(list);
  return card;
}
