// Keyboard shortcuts of the map page: step through incidents (pending and most urgent first, then
// newest), open the unit list, show the shortcut help. Keys typed into a field are left alone.
// Escape closes the incident panel (incident-panel.js listens for it) and this help.
import { el } from "./dom.js";

const SHORTCUTS = [
  [["j", "]"], "Next incident (pending and most urgent first)"],
  [["k", "["], "Previous incident"],
  [["u"], "Show or hide the unit list"],
  [["Esc"], "Close the incident panel or this help"],
  [["?"], "Show or hide this help"],
];

function typing(target) {
  if (!(target instanceof Element)) return false;
  return target.isContentEditable || Boolean(target.closest("input, textarea, select, [contenteditable]"));
}

export function createKeyboard({ incidents, isEnabled, current, select, unitList }) {
  const help = el("div", {
    className: "kbd-help",
    attrs: { role: "dialog", "aria-label": "Keyboard shortcuts", "aria-modal": "false" },
  }, [
    el("div", { className: "kbd-help-head" }, [
      el("h2", { text: "Keyboard shortcuts" }),
      el("button", {
        className: "kbd-help-close", attrs: { type: "button", "aria-label": "Close" }, text: "×",
        on: { click: () => showHelp(false) },
      }),
    ]),
    el("dl", { className: "kbd-help-list" }, SHORTCUTS.flatMap(([keys, what]) => [
      el("dt", {}, keys.flatMap((key, i) => [i ? " or " : null, el("kbd", { text: key })])),
      el("dd", { text: what }),
    ])),
  ]);
  help.hidden = true;
  document.body.append(help);

  function showHelp(show) {
    help.hidden = !show;
  }

  // The incident `step` places from the one open in the panel (from the start when none is).
  function stepIncident(step) {
    if (!isEnabled()) return;
    const ordered = incidents.ordered();
    if (!ordered.length) return;
    const at = ordered.findIndex((feature) => Number(feature.id) === Number(current()));
    const next = at === -1
      ? (step > 0 ? 0 : ordered.length - 1)
      : (at + step + ordered.length) % ordered.length;
    select(ordered[next]);
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      showHelp(false);
      return;
    }
    if (typing(event.target)) return;
    switch (event.key) {
      case "j":
      case "]":
        stepIncident(1);
        break;
      case "k":
      case "[":
        stepIncident(-1);
        break;
      case "u":
        unitList?.toggle();
        break;
      case "?":
        showHelp(help.hidden);
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  return { showHelp };
}
