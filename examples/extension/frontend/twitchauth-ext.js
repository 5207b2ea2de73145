/*
 * twitchauth-ext.js: Helix and EBS calls for Twitch extension front ends.
 * Part of twitchauth (https://github.com/twitchauth/twitchauth), MIT license.
 * Plain ES2017, no dependencies, no build step. Include it after Twitch's
 * helper script and before your own:
 *
 *   <script src="https://extension-files.twitch.tv/helper/v1/twitch-ext.min.js"></script>
 *   <script src="twitchauth-ext.js"></script>
 *
 * TwitchAuthExt.fetchHelix(path, init, options)
 *   fetch(helixBase + path) with "Authorization: Extension <helixToken>" and
 *   "Client-Id" from the latest onAuthorized. On 401 it waits for the next
 *   onAuthorized (at most options.maxAuthWait ms, default 15000) and retries
 *   once; on 429 it waits until Ratelimit-Reset (at most options.maxRateWait
 *   ms, default 60000) and retries once. It resolves to the final Response,
 *   as fetch does: check response.ok.
 * TwitchAuthExt.fetchEBS(url, init, options)
 *   the same for your backend, with "Authorization: Bearer <token>"; on 429
 *   it honours Retry-After (seconds) or Ratelimit-Reset.
 * options.onRetry({status, waitMs, reason}) is called before each wait, and
 *   options.signal (or init.signal) aborts the waits.
 * TwitchAuthExt.authorized(maxWait) resolves to the latest onAuthorized
 *   object, waiting for the first one if needed.
 *
 * Twitch keeps one onAuthorized callback (the last one registered wins), so
 * this file chains itself in front of Twitch.ext.onAuthorized: your own
 * callback still gets every token.
 */
(function (root) {
  'use strict';
  var ext = root.Twitch && root.Twitch.ext;
  if (!ext || typeof ext.onAuthorized !== 'function') {
    throw new Error('twitchauth-ext.js: load Twitch\'s extension helper (twitch-ext.min.js) first');
  }

  var latest = null; // the last onAuthorized object
  var waiters = [];
  var userCallback = null;
  var register = ext.onAuthorized.bind(ext);

  function onAuth(auth) {
    latest = auth;
    var w = waiters;
    waiters = [];
    w.forEach(function (fn) { fn(auth); });
    if (userCallback) {
      try { userCallback(auth); } catch (e) { setTimeout(function () { throw e; }, 0); }
    }
  }
  register(onAuth);
  ext.onAuthorized = function (fn) {
    userCallback = fn;
    if (latest) {
      var a = latest;
      setTimeout(function () { if (userCallback === fn) fn(a); }, 0);
    }
  };

  function abortError() {
    try { return new DOMException('The operation was aborted.', 'AbortError'); } catch (e) {
      var err = new Error('The operation was aborted.');
      err.name = 'AbortError';
      return err;
    }
  }

  // waitAuth resolves to an onAuthorized object whose token is not
  // staleToken, or to null after maxWait ms.
  function waitAuth(staleToken, maxWait, signal) {
    if (latest && latest.token !== staleToken && latest.helixToken !== staleToken) return Promise.resolve(latest);
    return new Promise(function (resolve, reject) {
      var done = false;
      var timer = setTimeout(function () { finish(null); }, Math.max(0, maxWait));
      function finish(v, err) {
        if (done) return;
        done = true;
        clearTimeout(timer);
        var i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        if (signal) signal.removeEventListener('abort', onAbort);
        if (err) reject(err); else resolve(v);
      }
      function waiter(a) {
        if (a.token === staleToken || a.helixToken === staleToken) waiters.push(waiter);
        else finish(a);
      }
      function onAbort() { finish(null, abortError()); }
      if (signal) {
        if (signal.aborted) { onAbort(); return; }
        signal.addEventListener('abort', onAbort);
      }
      waiters.push(waiter);
    });
  }

  function sleep(ms, signal) {
    return new Promise(function (resolve, reject) {
      if (signal && signal.aborted) { reject(abortError()); return; }
      var timer = setTimeout(function () {
        if (signal) signal.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      function onAbort() { clearTimeout(timer); reject(abortError()); }
      if (signal) signal.addEventListener('abort', onAbort);
    });
  }

  // rateWait is how long a 429 asks to wait, in ms (NaN when it does not say).
  function rateWait(resp) {
    var after = resp.headers.get('Retry-After');
    if (after !== null && after !== '' && !isNaN(Number(after))) return Number(after) * 1000;
    var reset = resp.headers.get('Ratelimit-Reset');
    if (reset !== null && reset !== '' && !isNaN(Number(reset))) return Number(reset) * 1000 - Date.now();
    return NaN;
  }

  async function call(url, init, options, headersFor) {
    init = Object.assign({}, init || {});
    options = options || {};
    var signal = options.signal || init.signal;
    var maxAuthWait = options.maxAuthWait == null ? 15000 : options.maxAuthWait;
    var maxRateWait = options.maxRateWait == null ? 60000 : options.maxRateWait;
    var auth = latest || await api.authorized(maxAuthWait, signal);
    var send = function (a) {
      var h = new Headers(init.headers || {});
      var set = headersFor(a).headers;
      Object.keys(set).forEach(function (k) { h.set(k, set[k]); });
      return root.fetch(url, Object.assign({}, init, { headers: h }));
    };
    var resp = await send(auth);
    if (resp.status === 401) {
      var stale = headersFor(auth).token;
      if (options.onRetry) options.onRetry({ status: 401, waitMs: maxAuthWait, reason: 'waiting for a new token from onAuthorized' });
      var fresh = await waitAuth(stale, maxAuthWait, signal);
      if (!fresh) return resp;
      return send(fresh);
    }
    if (resp.status === 429) {
      var wait = rateWait(resp);
      if (isNaN(wait)) wait = 1000;
      wait = Math.max(0, Math.ceil(wait));
      if (wait > maxRateWait) return resp;
      if (options.onRetry) options.onRetry({ status: 429, waitMs: wait, reason: 'waiting for the rate limit to reset' });
      await sleep(wait, signal);
      return send(latest || auth);
    }
    return resp;
  }

  var api = {
    /** Base URL of fetchHelix paths. */
    helixBase: 'https://api.twitch.tv/helix',

    /** The latest onAuthorized object, or null. */
    auth: function () { return latest; },

    /** Resolves to the latest onAuthorized object, waiting up to maxWait ms for the first. */
    authorized: function (maxWait, signal) {
      if (latest) return Promise.resolve(latest);
      return waitAuth(null, maxWait == null ? 15000 : maxWait, signal).then(function (a) {
        if (!a) throw new Error('twitchauth-ext.js: no onAuthorized within ' + maxWait + ' ms');
        return a;
      });
    },

    /** fetch a Helix path ("/users?id=1") as the viewer (Extension scheme). */
    fetchHelix: function (path, init, options) {
      var url = /^https?:/.test(path) ? path : api.helixBase + (path.charAt(0) === '/' ? '' : '/') + path;
      return call(url, init, options, function (a) {
        return { headers: { Authorization: 'Extension ' + a.helixToken, 'Client-Id': a.clientId }, token: a.helixToken };
      });
    },

    /** fetch your EBS with the viewer's JWT (Authorization: Bearer). */
    fetchEBS: function (url, init, options) {
      return call(url, init, options, function (a) {
        return { headers: { Authorization: 'Bearer ' + a.token }, token: a.token };
      });
    }
  };

  root.TwitchAuthExt = api;
})(window);
