// The one way the page acknowledges an alert (the alert queue's detail view and the alert's map
// popup both use it): a note, kept in the audit record, and for a hotlist hit what the operator
// found (the measures dashboard counts hits confirmed vs false). A success is announced on the
// document as `rtcc:alert-acknowledged` so every view of the alert lets it go at once, before the
// live update arrives.
import { ApiError } from "./api.js";
import { el } from "./dom.js";

const OUTCOMES = [["unknown", "Outcome: unknown"], ["confirmed", "Confirmed"], ["false_positive", "False positive"]];

export function createAckForm({ api, alert, onDone = () => {}, onGone = () => {} }) {
  const props = alert.properties || {};
  const note = el("textarea", {
    className: "ack-note",
    attrs: {
      name: "note",
      rows: 2,
      maxlength: 2000,
      placeholder: "Note for the record: what you did or found",
      "aria-label": "Acknowledgement note",
    },
  });
  const outcome = props.kind === "hotlist_hit"
    ? el("select", { className: "ack-outcome", attrs: { name: "outcome", "aria-label": "Outcome" } },
      OUTCOMES.map(([value, text]) => el("option", { text, attrs: { value } })))
    : null;
  const button = el("button", { className: "btn btn-small ack-button", text: "Acknowledge", attrs: { type: "submit" } });
  const message = el("div", { className: "ack-message", attrs: { role: "status" } });
  const form = el("form", { className: "ack-form", dataset: { alertId: alert.id } }, [
    note,
    el("div", { className: "ack-row" }, [outcome, button]),
    message,
  ]);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    message.textContent = "";
    try {
      const feature = await api.postJSON(`alerts/${encodeURIComponent(alert.id)}/acknowledge/`, {
        note: note.value,
        outcome: outcome ? outcome.value : "",
      });
      document.dispatchEvent(new CustomEvent("rtcc:alert-acknowledged", { detail: { feature } }));
      onDone(feature);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        // Someone else was quicker; the live update says who.
        message.textContent = error.detail || "Already acknowledged.";
        onGone(alert.id);
        return;
      }
      message.textContent = error instanceof ApiError ? error.detail || error.message : "Could not acknowledge.";
      button.disabled = false;
    }
  });
  return form;
}
