// The API client: every call carries the dashboard token (if one was given),
// and a 401 raises AuthError so the page can ask for the token again.

const TOKEN_KEY = "aegis-stream.token";

export class AuthError extends Error {
  constructor(hadToken) {
    super(hadToken ? "The token was not accepted." : "This dashboard needs a token.");
    this.hadToken = hadToken;
  }
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message || `The API answered ${status}.`);
    this.status = status;
  }
}

/** The token kept for this browser tab, or "". */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

/** Keep (or, with "", forget) the token for this tab only. */
export function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token lives as long as the page */
  }
}

/** An absolute URL for an API path, relative to the page (so a path prefix in front of it works). */
export function url(path, params) {
  const u = new URL(path.replace(/^\//, ""), document.baseURI);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u;
}

/** GET a JSON document; raises AuthError on 401, ApiError on other failures. */
export async function get(path, params, { signal } = {}) {
  const t = token();
  const headers = { Accept: "application/json" };
  if (t) headers.Authorization = `Bearer ${t}`;
  let response;
  try {
    response = await fetch(url(path, params), { headers, signal, cache: "no-store", credentials: "omit" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "The API cannot be reached.");
  }
  if (response.status === 401) throw new AuthError(Boolean(t));
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, body && body.error);
  return body;
}

/** Fetch several documents at once: {name: [path, params]} -> {name: body}. */
export async function getAll(spec, options) {
  const names = Object.keys(spec);
  const bodies = await Promise.all(names.map((n) => get(spec[n][0], spec[n][1], options)));
  return Object.fromEntries(names.map((n, i) => [n, bodies[i]]));
}
