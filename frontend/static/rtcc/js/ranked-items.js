// One row format for the cameras ranked for a place and the nearest available units, shared by the
// incident panel and the alert queue: the same ranking (apps/cameras and apps/units selectors)
// reads the same wherever it is shown.
import { ApiError } from "./api.js";
import { el } from "./dom.js";
import { formatAge, formatDistance, titleCase } from "./format.js";

// `open(cam)` puts the camera in the dock with the audit context of what is being worked (an
// incident, an alert); give null when the role may not watch streams: then there is no Open button.
export function cameraRankItem(result, open) {
  const cam = result.camera || {};
  const tags = el("div", { className: "cr-tags" }, [
    result.can_see ? el("span", { className: "tag tag-good", text: "Can see" }) : null,
    !result.can_see && result.in_view ? el("span", { className: "tag tag-warn", text: "In view" }) : null,
    el("span", { className: `tag owner-${cam.owner_kind}`, text: titleCase(cam.owner_kind) }),
    cam.status !== "online" ? el("span", { className: "tag tag-muted", text: titleCase(cam.status) }) : null,
    cam.sharing !== "live" ? el("span", { className: "tag tag-muted", text: "On request" }) : null,
  ]);
  const message = el("div", { className: "cr-message" });
  if (open && cam.sharing === "live" && cam.status !== "offline") {
    const button = el("button", { className: "btn btn-small", text: "Open", attrs: { type: "button" } });
    tags.append(button);
    // Camera tiles outlive the panel: the operator keeps watching while moving to the next call.
    button.addEventListener("click", async () => {
      button.disabled = true;
      message.textContent = "";
      try {
        await open(cam);
      } catch (error) {
        message.textContent = error instanceof ApiError
          ? error.detail || error.message
          : error.name === "DockFull" ? error.message : "Could not open the stream.";
      } finally {
        button.disabled = false;
      }
    });
  }
  return el("li", { className: `camera-rank-item${result.can_see ? " can-see" : ""}`, dataset: { cameraId: cam.id } }, [
    el("div", { className: "cr-main" }, [
      el("span", { className: "cr-name", text: cam.name }),
      el("span", { className: "cr-distance mono", text: formatDistance(result.distance_m) }),
    ]),
    result.reason ? el("div", { className: "cr-reason", text: result.reason }) : null,
    tags,
    message,
  ]);
}

export function unitRankItem(result) {
  const unit = result.unit || {};
  return el("li", { className: "unit-rank-item", dataset: { unitId: unit.id } }, [
    el("span", { className: `unit-dot status-${unit.status}` }),
    el("span", { className: "ur-call mono", text: unit.call_sign }),
    el("span", { className: "ur-kind", text: titleCase(unit.kind) }),
    el("span", { className: "ur-distance mono", text: formatDistance(result.distance_m) }),
    el("span", {
      className: `ur-seen${result.stale ? " stale" : ""}`,
      text: result.last_seen ? `last fix ${formatAge(result.last_seen)}${result.stale ? " · stale" : ""}` : "",
    }),
  ]);
}
