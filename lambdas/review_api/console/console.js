/*
 * Scones review console. Plain JavaScript, no dependencies, no build step.
 *
 * Contract with the review API (same routes in AWS and locally):
 *   GET  api/reviews                    -> {"pending": N, "reviews": [{id, key, reason, model_label,
 *                                            confidence, probabilities, created_at, image_url, error}]},
 *                                            oldest first
 *   POST api/reviews/{id}/decision      {"label": "bicycle"|"motorcycle"|"reject", "note": "..."}
 *   GET  console/config.json            -> {"mode": "local"} or
 *                                          {"mode": "cognito", "auth_domain", "client_id", "scopes"}
 * Every API call sends "Authorization: Bearer <token>". The token comes from Cognito's hosted login
 * (authorization code + PKCE) in AWS and from the URL fragment "#token=..." locally (printed by
 * `scones run --review-port`); it is kept in sessionStorage (this tab only) and the fragment is removed.
 *
 * Data from the API (object keys come from uploads) is only ever put into the page with textContent
 * or as an image URL: never parsed as HTML. The server's Content-Security-Policy enforces it
 * (no inline script, Trusted Types required for every HTML sink).
 */
(function () {
  "use strict";

  var TOKEN_KEY = "scones.review.token";
  var PKCE_KEY = "scones.review.pkce";
  var REFRESH_MS = 10000;
  var LABEL_NAMES = { bicycle: "Bicycle", motorcycle: "Motorcycle", reject: "Reject" };
  var REASONS = {
    low_confidence: "Low confidence: the model was not sure enough to route this driver.",
    processing_failed: "Processing failed: the workflow could not classify this photo.",
    audit: "Audit sample: already routed by the model; your label measures its live accuracy."
  };

  var state = { config: null, token: null, reviews: [], pending: 0, current: null, busy: false, skipped: {} };
  var $ = function (id) { return document.getElementById(id); };

  // -- messages --------------------------------------------------------------------------------
  function showError(text) {
    var box = $("message");
    box.textContent = text;
    box.hidden = false;
  }
  function clearError() {
    $("message").hidden = true;
    $("message").textContent = "";
  }
  function notice(text) { $("notice").textContent = text; }

  function ApiError(status, text) {
    this.status = status;
    this.message = text;
  }

  function explain(status, body, action) {
    var detail = body && typeof body.message === "string" ? body.message : "";
    switch (status) {
      case 401:
        return state.config && state.config.mode === "cognito"
          ? "Your sign-in has expired or is not valid (401). Sign in again."
          : "The review token is missing or wrong (401). Open the console with the address printed by " +
            "`scones run --review-port` (it ends in #token=...).";
      case 403:
        return "You are signed in but not allowed to review (403): your account must be in the reviewers group." +
          (detail ? " " + detail : "");
      case 404:
        return action === "decide"
          ? "This image is no longer waiting for review (404: unknown or removed). Moving on to the next one."
          : "Not found (404)." + (detail ? " " + detail : "");
      case 409:
        return "This image was already decided by another reviewer, or its review expired (409). Your decision " +
          "was not applied. Moving on to the next one." + (detail ? " " + detail : "");
      case 400:
        return "The review API refused the request (400): " + (detail || "bad request");
      case 429:
        return "Too many requests (429). Wait a few seconds and try again.";
      default:
        return "The review API failed (HTTP " + status + ")" + (detail ? ": " + detail : "") + ". Try again.";
    }
  }

  // -- API -------------------------------------------------------------------------------------
  function api(path, options, action) {
    options = options || {};
    var headers = { "Accept": "application/json", "Authorization": "Bearer " + state.token };
    if (options.body) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method: options.method || "GET",
      headers: headers,
      body: options.body,
      cache: "no-store",
      credentials: "omit",
      redirect: "error"
    }).catch(function () {
      throw new ApiError(0, "Cannot reach the review API (network error). Check the connection or that the " +
        "review server is still running; the console retries every " + REFRESH_MS / 1000 + " s.");
    }).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (ignored) { body = null; }
        if (!response.ok) throw new ApiError(response.status, explain(response.status, body, action));
        return body;
      });
    });
  }

  function handleApiError(error) {
    if (!(error instanceof ApiError)) {
      showError("Unexpected error in the console: " + String(error && error.message || error));
      return;
    }
    showError(error.message);
    lastErrorWasTransient = error.status === 0 || error.status >= 500 || error.status === 429;
    if (error.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = null;
      if (state.config && state.config.mode === "cognito") $("sign-in").hidden = false;
    }
  }

  // -- the queue -------------------------------------------------------------------------------
  function refresh() {
    if (!state.token || state.busy) return Promise.resolve();
    return api("api/reviews").then(function (body) {
      var reviews = body && Array.isArray(body.reviews) ? body.reviews : [];
      state.reviews = reviews;
      // The listing may be a page of the queue; "pending" counts all of it.
      state.pending = body && typeof body.pending === "number" ? body.pending : reviews.length;
      clearErrorIfStale();
      var stillThere = state.current && reviews.some(function (r) { return r.id === state.current.id; });
      if (!stillThere) state.current = nextReview(null);
      render();
    }).catch(handleApiError);
  }

  var lastErrorWasTransient = false;
  function clearErrorIfStale() {
    // A successful listing clears a network or server error; a decision's 4xx stays until the next decision.
    if (lastErrorWasTransient) { clearError(); lastErrorWasTransient = false; }
  }

  function nextReview(after) {
    var candidates = state.reviews.filter(function (r) { return !state.skipped[r.id]; });
    if (!candidates.length) {  // everything skipped: start again from the oldest
      state.skipped = {};
      candidates = state.reviews.slice();
    }
    if (after) {
      var position = state.reviews.findIndex(function (r) { return r.id === after.id; });
      var later = candidates.filter(function (r) { return state.reviews.indexOf(r) > position; });
      if (later.length) return later[0];
    }
    return candidates[0] || null;
  }

  function render() {
    var count = Math.max(state.pending || 0, state.reviews.length);
    $("waiting").textContent = count === 1 ? "1 image waiting" : count + " images waiting";
    document.title = (count ? "(" + count + ") " : "") + "Scones review console";
    var item = state.current;
    $("review").hidden = !item;
    $("empty").hidden = !!item || !state.token;
    if (!item) return;

    $("key").textContent = String(item.key);
    $("reason").textContent = REASONS[item.reason] || String(item.reason || "");
    $("model-label").textContent = item.model_label ? (LABEL_NAMES[item.model_label] || String(item.model_label)) : "no answer";
    $("confidence").textContent = typeof item.confidence === "number" ? percent(item.confidence) + " confident" : "";
    renderProbabilities(item.probabilities);
    var error = item.error ? String(item.error) : "";
    $("error").textContent = error ? "Error: " + error : "";
    $("error").hidden = !error;
    $("created").textContent = item.created_at ? "Waiting since " + describeTime(String(item.created_at)) : "";
    $("created").title = item.created_at ? String(item.created_at) : "";

    var image = $("image");
    var url = safeImageUrl(item.image_url);
    if (image.dataset.reviewId !== item.id) {
      image.dataset.reviewId = item.id;
      image.removeAttribute("src");
      if (url) image.src = url;
      image.alt = "Photo uploaded as " + String(item.key);
    }
    setBusy(state.busy);
  }

  function renderProbabilities(probabilities) {
    var list = $("probabilities");
    list.replaceChildren();
    if (!probabilities || typeof probabilities !== "object") return;
    Object.keys(probabilities).forEach(function (name) {
      var value = Number(probabilities[name]);
      if (!isFinite(value)) return;
      var row = document.createElement("li");
      var label = document.createElement("span");
      label.textContent = LABEL_NAMES[name] || name;
      var bar = document.createElement("span");
      bar.className = "bar";
      var fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = Math.max(0, Math.min(100, value * 100)).toFixed(1) + "%";
      fill.style.display = "block";
      bar.appendChild(fill);
      var number = document.createElement("span");
      number.textContent = percent(value);
      row.append(label, bar, number);
      list.appendChild(row);
    });
  }

  function percent(value) { return (value * 100).toFixed(1) + "%"; }

  function describeTime(iso) {
    var when = new Date(iso);
    if (isNaN(when.getTime())) return iso;
    var minutes = Math.round((Date.now() - when.getTime()) / 60000);
    var ago = minutes < 1 ? "just now" : minutes < 120 ? minutes + " min ago" : Math.round(minutes / 60) + " h ago";
    return when.toLocaleString() + " (" + ago + ")";
  }

  function safeImageUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      var url = new URL(value, window.location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (ignored) {
      return null;
    }
  }

  function setBusy(busy) {
    state.busy = busy;
    Array.prototype.forEach.call(document.querySelectorAll("#decisions button"), function (button) {
      button.disabled = busy;
    });
  }

  // -- deciding --------------------------------------------------------------------------------
  function decide(label) {
    var item = state.current;
    if (!item || state.busy) return;
    var note = $("note").value.trim();
    setBusy(true);
    notice("Sending " + LABEL_NAMES[label] + " for " + item.key + "…");
    api("api/reviews/" + encodeURIComponent(item.id) + "/decision",
        { method: "POST", body: JSON.stringify({ label: label, note: note }) }, "decide")
      .then(function () {
        clearError();
        notice("Decided " + LABEL_NAMES[label] + " for " + item.key + ".");
        return true;
      }, function (error) {
        handleApiError(error);
        // 404 and 409: the item is gone for us; anything else: stay on it so the reviewer can retry.
        return error instanceof ApiError && (error.status === 404 || error.status === 409);
      })
      .then(function (moveOn) {
        if (moveOn) {
          $("note").value = "";
          state.reviews = state.reviews.filter(function (r) { return r.id !== item.id; });
          state.pending = Math.max(0, (state.pending || 0) - 1);
          state.current = nextReview(item);
        }
        setBusy(false);
        render();
        return refresh();
      });
  }

  function skip() {
    var item = state.current;
    if (!item || state.busy) return;
    state.skipped[item.id] = true;
    state.current = nextReview(item);
    $("note").value = "";
    render();
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA");
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var key = event.key.toLowerCase();
    var label = { b: "bicycle", m: "motorcycle", r: "reject" }[key];
    if (label) { event.preventDefault(); decide(label); }
    else if (key === "n") { event.preventDefault(); skip(); }
  }

  // -- sign-in -----------------------------------------------------------------------------------
  function base64Url(bytes) {
    var text = "";
    bytes.forEach(function (b) { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function randomString() { return base64Url(crypto.getRandomValues(new Uint8Array(32))); }
  function redirectUri() { return window.location.origin + window.location.pathname; }

  function signIn() {
    var config = state.config;
    var verifier = randomString();
    var stateValue = randomString();
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (digest) {
      sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier: verifier, state: stateValue }));
      var query = new URLSearchParams({
        response_type: "code",
        client_id: config.client_id,
        redirect_uri: redirectUri(),
        scope: (config.scopes || ["openid"]).join(" "),
        state: stateValue,
        code_challenge: base64Url(new Uint8Array(digest)),
        code_challenge_method: "S256"
      });
      window.location.assign(config.auth_domain + "/oauth2/authorize?" + query.toString());
    });
  }

  function finishSignIn(params) {
    var saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
    sessionStorage.removeItem(PKCE_KEY);
    window.history.replaceState(null, "", window.location.pathname);
    if (params.get("error")) {
      return Promise.reject(new Error("Sign-in failed: " + params.get("error") +
        (params.get("error_description") ? " (" + params.get("error_description") + ")" : "")));
    }
    if (!saved || saved.state !== params.get("state")) {
      return Promise.reject(new Error("Sign-in failed: the login response does not match this tab's request. Sign in again."));
    }
    var form = new URLSearchParams({
      grant_type: "authorization_code",
      client_id: state.config.client_id,
      code: params.get("code"),
      redirect_uri: redirectUri(),
      code_verifier: saved.verifier
    });
    return fetch(state.config.auth_domain + "/oauth2/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form.toString(),
      credentials: "omit"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok || !body.access_token) {
          throw new Error("Sign-in failed: the token exchange was refused (" + response.status + " " +
            String(body.error || "") + "). Sign in again.");
        }
        return body.access_token;
      });
    });
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    if (state.config && state.config.mode === "cognito") {
      var query = new URLSearchParams({ client_id: state.config.client_id, logout_uri: redirectUri() });
      window.location.assign(state.config.auth_domain + "/logout?" + query.toString());
    } else {
      state.reviews = [];
      state.pending = 0;
      state.current = null;
      render();
      showError("Signed out. Open the address printed by `scones run --review-port` to sign in again.");
    }
  }

  function reviewerName(token) {
    // Display only (the API verifies the token): a Cognito token's username; a local token is opaque.
    try {
      var claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      return String(claims.username || claims.email || claims.sub || "");
    } catch (ignored) {
      return state.config && state.config.mode === "local" ? "local reviewer" : "";
    }
  }

  function tokenFromFragment() {
    var fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    var token = fragment.get("token");
    if (token) window.history.replaceState(null, "", window.location.pathname + window.location.search);
    return token;
  }

  function obtainToken() {
    var fromFragment = tokenFromFragment();
    if (fromFragment) return Promise.resolve(fromFragment);
    var stored = sessionStorage.getItem(TOKEN_KEY);
    if (stored) return Promise.resolve(stored);
    if (state.config.mode !== "cognito") return Promise.resolve(null);
    var params = new URLSearchParams(window.location.search);
    if (params.get("code") || params.get("error")) return finishSignIn(params);
    return signIn().then(function () { return null; });
  }

  function loadConfig() {
    return fetch("console/config.json", { cache: "no-store", credentials: "omit" }).then(function (response) {
      if (!response.ok) throw new Error("could not load console/config.json (HTTP " + response.status + ")");
      return response.json();
    });
  }

  var refreshTimer = null;
  function signedIn(token) {
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    clearError();
    $("sign-in").hidden = true;
    $("sign-out").hidden = false;
    $("reviewer").textContent = reviewerName(token);
    if (refreshTimer === null) refreshTimer = window.setInterval(function () { refresh(); }, REFRESH_MS);
    return refresh();
  }

  function start() {
    $("sign-out").addEventListener("click", signOut);
    $("sign-in").addEventListener("click", function () { signIn(); });
    $("skip").addEventListener("click", skip);
    Array.prototype.forEach.call(document.querySelectorAll("#decisions .decide"), function (button) {
      button.addEventListener("click", function () { decide(button.dataset.label); });
    });
    $("image").addEventListener("error", function () {
      if ($("image").getAttribute("src")) notice("The photo could not be loaded (its link may have expired); it reloads with the next refresh.");
    });
    document.addEventListener("keydown", onKey);

    // Pasting the printed address into a tab already on the console changes only the fragment.
    window.addEventListener("hashchange", function () {
      var token = tokenFromFragment();
      if (token && state.config) signedIn(token);
    });

    loadConfig().then(function (config) {
      state.config = config;
      return obtainToken();
    }).then(function (token) {
      if (!token) {
        $("waiting").textContent = "Not signed in";
        if (state.config.mode !== "cognito") {
          showError("No review token. Open the console with the address printed by `scones run --review-port` " +
            "(it ends in #token=...).");
        }
        return;
      }
      return signedIn(token);
    }).catch(function (error) {
      showError(String(error && error.message || error));
      if (state.config && state.config.mode === "cognito") $("sign-in").hidden = false;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
