// The one way the page talks to /api/: same-origin session cookies, the CSRF header on writes,
// GeoJSON pagination followed, and an expired session sent back to the login page.

// DRF answers an anonymous request with 403 and this message when only session auth is enabled.
const NOT_AUTHENTICATED = "Authentication credentials were not provided.";
const MAX_PAGES = 50;

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail || "";
  }

  get forbidden() {
    return this.status === 403;
  }
}

export function isAbort(error) {
  return error && error.name === "AbortError";
}

function readCookie(name) {
  for (const part of document.cookie ? document.cookie.split(";") : []) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

async function errorDetail(response) {
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string") return body.detail;
    return JSON.stringify(body);
  } catch {
    return response.statusText;
  }
}

export function createApi({ apiBase, csrfCookieName, loginUrl }) {
  let leaving = false;

  function toLogin() {
    if (leaving) return;
    leaving = true;
    const target = new URL(loginUrl, window.location.origin);
    target.searchParams.set("next", window.location.pathname + window.location.search);
    window.location.assign(target.toString());
  }

  function csrfToken() {
    const fromCookie = readCookie(csrfCookieName);
    if (fromCookie) return fromCookie;
    // CSRF_COOKIE_HTTPONLY hides the cookie; the logout form always carries the token too.
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function buildUrl(path, params = {}) {
    const url = new URL(path.replace(/^\//, ""), new URL(apiBase, window.location.origin));
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
    }
    return url;
  }

  async function request(url, { method = "GET", body, signal } = {}) {
    const target = new URL(url, window.location.origin);
    if (target.origin !== window.location.origin) {
      // Pagination links come from the server; never let one send our cookies elsewhere.
      throw new ApiError(0, `refused to follow a link to another origin: ${target.origin}`);
    }
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", signal };
    if (method !== "GET" && method !== "HEAD") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRFToken"] = csrfToken();
      init.body = JSON.stringify(body ?? {});
    }
    const response = await fetch(target, init);
    if (response.ok) {
      return response.status === 204 ? null : response.json();
    }
    const detail = await errorDetail(response);
    if (response.status === 401 || (response.status === 403 && detail === NOT_AUTHENTICATED)) {
      toLogin();
    }
    throw new ApiError(response.status, detail);
  }

  return {
    url: buildUrl,
    toLogin,

    getJSON(path, params, options) {
      return request(buildUrl(path, params), options);
    },

    postJSON(path, body, options = {}) {
      return request(buildUrl(path), { ...options, method: "POST", body });
    },

    // Every feature of a GeoJSON FeatureCollection, following `next` links page by page.
    async getFeatures(path, params, { signal } = {}) {
      let url = buildUrl(path, params);
      const features = [];
      let count = 0;
      for (let page = 0; url && page < MAX_PAGES; page += 1) {
        const data = await request(url, { signal });
        features.push(...(data.features || []));
        count = typeof data.count === "number" ? data.count : features.length;
        url = data.next || null;
      }
      return { features, count, truncated: Boolean(url) };
    },
  };
}
