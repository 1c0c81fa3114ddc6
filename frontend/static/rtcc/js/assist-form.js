// "Mark RTCC-assisted" in the incident panel: the marks already made on the incident, and (for
// roles that may mark) a kind + note form. The kinds come from the API with the marks, so the
// page never keeps its own copy of the choices. Marking is audited server-side.
import { ApiError, isAbort } from "./api.js";
import { clear, el } from "./dom.js";
import { formatDateTime } from "./format.js";

function markItem(mark) {
  return el("li", { className: "assist-mark", dataset: { kind: mark.kind } }, [
    el("span", { className: "tag tag-good", text: mark.kind_label }),
    el("span", { className: "assist-meta", text: `${mark.created_by || ""} · ${formatDateTime(mark.created_at)}` }),
    mark.note ? el("span", { className: "assist-note", text: mark.note }) : null,
  ]);
}

// Returns the element to put in the panel; it fills itself in once the marks are loaded.
export function createAssistSection({ api, config, incidentId, signal }) {
  const canMark = config.user.perms.includes("mark_assist");
  const root = el("div", { className: "assist-box" }, [el("div", { className: "sp-loading", text: "Loading marks…" })]);
  const path = `incidents/${encodeURIComponent(incidentId)}/assists/`;
  let marks = [];
  let kinds = [];

  function render() {
    const list = marks.length
      ? el("ol", { className: "assist-marks" }, marks.map(markItem))
      : el("div", { className: "sp-empty", text: "Not marked as RTCC-assisted." });
    clear(root).append(list);
    if (!canMark) return;
    const taken = new Set(marks.map((m) => m.kind));
    const open = kinds.filter((k) => !taken.has(k.value));
    if (open.length === 0) return;
    const kind = el("select", { attrs: { name: "kind", "aria-label": "Kind of assistance" } },
      open.map((k) => el("option", { text: k.label, attrs: { value: k.value } })));
    const note = el("input", {
      attrs: { name: "note", type: "text", maxlength: 2000, placeholder: "Note (optional)", "aria-label": "Note" },
    });
    const button = el("button", { className: "btn btn-small btn-primary", text: "Mark RTCC-assisted", attrs: { type: "submit" } });
    const message = el("div", { className: "assist-message", attrs: { role: "status" } });
    const form = el("form", { className: "assist-form" }, [kind, note, button, message]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      message.textContent = "";
      try {
        const mark = await api.postJSON(path, { kind: kind.value, note: note.value });
        marks = [...marks, mark];
        render();
      } catch (error) {
        message.textContent = error instanceof ApiError ? error.detail || error.message : "Could not save the mark.";
        button.disabled = false;
      }
    });
    root.append(form);
  }

  api.getJSON(path, {}, { signal }).then((data) => {
    marks = data.results || [];
    kinds = data.kinds || [];
    render();
  }).catch((error) => {
    if (isAbort(error)) return;
    const text = error instanceof ApiError && error.forbidden ? "Not available for your role." : `Could not load (${error.message}).`;
    clear(root).append(el("div", { className: "sp-error", text }));
  });
  return root;
}
