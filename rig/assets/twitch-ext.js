// The twitchauth rig's stand-in for Twitch's extension helper
// (https://extension-files.twitch.tv/helper/v1/twitch-ext.min.js).
// It provides window.Twitch.ext against the rig: tokens come from the
// twitchtest sandbox through the rig's /api/auth, Helix calls to
// https://api.twitch.tv/helix are redirected to the rig's /helix/ path, and
// PubSub goes through the rig's relay. The channel page (the parent frame)
// chooses the viewer and the context with postMessage, as Twitch's page
// does with the real helper. Plain ES2017, no dependencies.
(function () {
  'use strict';
  var CFG = window.__twitchauthRigConfig || {};
  var script = document.currentScript;
  // The rig's root: this script is served at <root>rig/twitch-ext.min.js.
  var BASE = new URL('..', script ? script.src : location.href).href;
  var HELIX = 'https://api.twitch.tv/helix';
  var MSG = 'twitchauth-rig';

  var query = new URLSearchParams(location.search);
  var embedded = window.parent !== window;
  var settings = {
    viewer: query.get('viewer') || 'viewer',
    identity: query.get('identity') || 'linked',
    expire: 'never' // never | always
  };
  var anonymousID = null;
  var auth = null; // the latest onAuthorized object
  var viewerData = null;
  var timer = null;
  var generation = 0;
  var context = {
    arePlayerControlsVisible: false, bitrate: 5000, bufferSize: 4, displayResolution: '1280x720',
    game: 'Software and Game Development', hlsLatencyBroadcaster: 4, hostingInfo: undefined,
    isFullScreen: false, isMuted: false, isPaused: false, isTheatreMode: false,
    language: query.get('language') || 'en', mode: query.get('mode') || 'viewer',
    playbackMode: 'video', theme: 'light', videoResolution: '1280x720', volume: 0.5
  };
  var contextKnown = !embedded;

  // Callbacks: as on Twitch, registering again replaces the previous one
  // (twitchdev/issues#60); listen callbacks accumulate per target.
  var cb = { authorized: null, context: null, error: null, viewer: null, config: null, highlight: null, visibility: null, position: null };
  var listeners = {}; // target -> [callback]
  var segments = { broadcaster: undefined, developer: undefined, global: undefined };
  var configLoaded = false;

  function call(fn) {
    if (typeof fn !== 'function') return;
    var args = Array.prototype.slice.call(arguments, 1);
    try { fn.apply(null, args); } catch (e) { console.error('[twitchauth rig] callback threw', e); }
  }
  function toParent(msg) {
    if (!embedded) return;
    msg.source = MSG + '-ext';
    try { window.parent.postMessage(msg, location.origin); } catch (e) { /* detached */ }
  }
  function log() {
    var text = Array.prototype.map.call(arguments, function (a) {
      return typeof a === 'string' ? a : JSON.stringify(a);
    }).join(' ');
    console.log('[twitchauth rig]', text);
    toParent({ type: 'log', text: text });
  }
  function fail(err) {
    var text = err && err.message ? err.message : String(err);
    console.error('[twitchauth rig]', text);
    toParent({ type: 'log', text: 'error: ' + text, level: 'error' });
    call(cb.error, text);
  }

  function post(path, body, token) {
    var headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    return origFetch(BASE + path, { method: 'POST', headers: headers, body: JSON.stringify(body), credentials: 'same-origin' })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok) throw new Error(path + ': ' + r.status + ' ' + (j.message || r.statusText));
          return j;
        });
      });
  }

  // Tokens: mint, deliver, refresh at 80% of their life.
  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(function () { refresh(false); }, Math.max(250, ms));
  }
  async function refresh(expireOnce) {
    var gen = ++generation;
    var expired = expireOnce || settings.expire === 'always';
    var body = { viewer: settings.viewer, identity: settings.identity, expired: expired };
    if (settings.viewer === 'anonymous' && anonymousID) body.opaque_user_id = anonymousID;
    try {
      var a = await post('api/auth', body);
      if (gen !== generation) return; // a newer request superseded this one
      deliver(a);
      if (expired) schedule(CFG.expiredRecoveryMs || 3000);
      else schedule((a.expiresAt - Date.now()) * 0.8);
    } catch (e) {
      if (gen !== generation) return;
      fail(e);
      schedule(5000);
    }
  }
  function deliver(a) {
    var previous = viewerData;
    if (a.viewer.opaqueId.charAt(0) === 'A') anonymousID = a.viewer.opaqueId;
    auth = { channelId: a.channelId, clientId: a.clientId, token: a.token, helixToken: a.helixToken, userId: a.userId };
    viewerData = {
      opaqueId: a.viewer.opaqueId, id: a.viewer.id, role: a.viewer.role, isLinked: a.viewer.isLinked,
      sessionToken: a.token, helixToken: a.helixToken, subscriptionStatus: null
    };
    toParent({
      type: 'authorized', role: a.viewer.role, opaqueId: a.viewer.opaqueId, userId: a.viewer.id,
      isLinked: a.viewer.isLinked, isUnlinked: a.isUnlinked, expiresAt: a.expiresAt, expired: a.expired
    });
    call(cb.authorized, Object.assign({}, auth));
    var changed = !previous || previous.opaqueId !== viewerData.opaqueId || previous.role !== viewerData.role ||
      previous.isLinked !== viewerData.isLinked || previous.id !== viewerData.id;
    if (changed && previous) call(cb.viewer);
    if (changed || !stream) connect();
    if (!configLoaded) loadConfig();
  }

  // Configuration service.
  function applyConfig(c) {
    segments.broadcaster = c.broadcaster || undefined;
    segments.developer = c.developer || undefined;
    segments.global = c.global || undefined;
    configLoaded = true;
    call(cb.config);
  }
  function loadConfig() {
    origFetch(BASE + 'api/config', { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error('api/config: ' + r.status); return r.json(); })
      .then(applyConfig)
      .catch(fail);
  }

  // PubSub relay: a server-sent event stream read with fetch (the token
  // goes in a header, never in the URL).
  var stream = null;
  function connect() {
    if (stream) stream.abort();
    if (!auth) return;
    var ctl = new AbortController();
    stream = ctl;
    var token = auth.token;
    origFetch(BASE + 'api/pubsub/listen', { method: 'POST', headers: { Authorization: 'Bearer ' + token }, signal: ctl.signal, credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok || !r.body) throw new Error('PubSub relay: ' + r.status);
        var reader = r.body.getReader();
        var decoder = new TextDecoder();
        var buf = '';
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) throw new Error('PubSub relay closed');
            buf += decoder.decode(chunk.value, { stream: true });
            var i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              dispatch(buf.slice(0, i));
              buf = buf.slice(i + 2);
            }
            return pump();
          });
        }
        return pump();
      })
      .catch(function (e) {
        if (ctl.signal.aborted || stream !== ctl) return;
        stream = null;
        console.warn('[twitchauth rig] PubSub relay disconnected, reconnecting:', e.message);
        setTimeout(function () { if (!stream) connect(); }, 2000);
      });
  }
  function dispatch(block) {
    var kind = 'message';
    var data = '';
    block.split('\n').forEach(function (line) {
      if (line.indexOf('event: ') === 0) kind = line.slice(7);
      else if (line.indexOf('data: ') === 0) data += line.slice(6);
    });
    if (!data) return;
    var e = JSON.parse(data);
    if (kind === 'config') { applyConfig(e.config || {}); return; }
    (listeners[e.target] || []).slice().forEach(function (fn) { call(fn, e.target, e.content_type, e.message); });
  }

  // Helix: calls to api.twitch.tv/helix go to the rig, which forwards them
  // to the sandbox.
  var origFetch = window.fetch.bind(window);
  function rewrite(u) {
    return typeof u === 'string' && u.indexOf(HELIX + '/') === 0 ? BASE + 'helix/' + u.slice(HELIX.length + 1) : u;
  }
  window.fetch = function (input, init) {
    if (typeof input === 'string') input = rewrite(input);
    else if (input instanceof URL) input = rewrite(input.href);
    else if (input instanceof Request && rewrite(input.url) !== input.url) input = new Request(rewrite(input.url), input);
    return origFetch(input, init);
  };
  var origOpen = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, u) {
    var args = Array.prototype.slice.call(arguments);
    args[1] = rewrite(u instanceof URL ? u.href : u);
    return origOpen.apply(this, args);
  };

  var ext = {
    version: '0.0.0-twitchauth-rig',
    environment: 'development',
    onAuthorized: function (fn) {
      cb.authorized = fn;
      if (auth) { var a = Object.assign({}, auth); setTimeout(function () { if (cb.authorized === fn) call(fn, a); }, 0); }
    },
    onContext: function (fn) {
      cb.context = fn;
      if (contextKnown) { var c = Object.assign({}, context); setTimeout(function () { if (cb.context === fn) call(fn, c, Object.keys(c)); }, 0); }
    },
    onError: function (fn) { cb.error = fn; },
    onHighlightChanged: function (fn) { cb.highlight = fn; },
    onPositionChanged: function (fn) { cb.position = fn; },
    onVisibilityChanged: function (fn) { cb.visibility = fn; },
    listen: function (target, fn) {
      if (typeof fn !== 'function') throw new TypeError('Twitch.ext.listen: callback must be a function');
      (listeners[target] = listeners[target] || []).push(fn);
    },
    unlisten: function (target, fn) {
      var l = listeners[target];
      if (!l) return;
      var i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    },
    send: function (target, contentType, message) {
      if (!auth) { fail('Twitch.ext.send called before onAuthorized'); return; }
      if (typeof message !== 'string') message = JSON.stringify(message);
      post('api/pubsub/send', { target: target, content_type: contentType, message: message }, auth.token).catch(fail);
    },
    viewer: {
      get opaqueId() { return viewerData ? viewerData.opaqueId : null; },
      get id() { return viewerData ? viewerData.id : null; },
      get role() { return viewerData ? viewerData.role : null; },
      get isLinked() { return viewerData ? viewerData.isLinked : false; },
      get sessionToken() { return viewerData ? viewerData.sessionToken : null; },
      get helixToken() { return viewerData ? viewerData.helixToken : null; },
      get subscriptionStatus() { return null; },
      onChanged: function (fn) { cb.viewer = fn; }
    },
    configuration: {
      get broadcaster() { return segments.broadcaster; },
      get developer() { return segments.developer; },
      get global() { return segments.global; },
      onChanged: function (fn) {
        cb.config = fn;
        if (configLoaded) setTimeout(function () { if (cb.config === fn) call(fn); }, 0);
      },
      set: function (segment, version, content) {
        if (!auth) { fail('Twitch.ext.configuration.set called before onAuthorized'); return; }
        post('api/config/set', { segment: segment, version: String(version), content: String(content) }, auth.token)
          .then(applyConfig).catch(fail);
      }
    },
    actions: {
      requestIdShare: function () { toParent({ type: 'requestIdShare' }); },
      followChannel: function (name) { log('actions.followChannel(' + name + ') is not emulated'); },
      minimize: function () { log('actions.minimize() is not emulated'); },
      onFollow: function () {}
    },
    features: { isBitsEnabled: false, isChatEnabled: true, isSubscriptionStatusAvailable: false, onChanged: function () {} },
    rig: {
      log: log,
      ebsURL: CFG.ebsURL || null,
      helixBase: BASE + 'helix'
    }
  };
  window.Twitch = window.Twitch || {};
  window.Twitch.ext = ext;

  // Messages from the channel page.
  window.addEventListener('message', function (ev) {
    if (ev.source !== window.parent || ev.origin !== location.origin) return;
    var m = ev.data;
    if (!m || m.source !== MSG) return;
    switch (m.type) {
      case 'settings': {
        var s = m.settings || {};
        var who = settings.viewer + '/' + settings.identity;
        settings.viewer = s.viewer || settings.viewer;
        settings.identity = s.identity || settings.identity;
        settings.expire = s.expire || 'never';
        if (settings.viewer !== 'anonymous') anonymousID = null;
        if (!auth || who !== settings.viewer + '/' + settings.identity || m.force) refresh(false);
        break;
      }
      case 'expire':
        refresh(true);
        break;
      case 'context': {
        Object.assign(context, m.context || {});
        contextKnown = true;
        call(cb.context, Object.assign({}, context), m.changed || Object.keys(m.context || {}));
        break;
      }
      case 'visibility':
        call(cb.visibility, !!m.visible, m.visible ? Object.assign({}, context) : undefined);
        break;
      case 'highlight':
        call(cb.highlight, !!m.highlighted);
        break;
    }
  });

  if (embedded) {
    toParent({ type: 'ready' });
    // Opened outside the channel page's frame after all (or the page did
    // not answer): start as the query string says.
    setTimeout(function () { if (!auth && generation === 0) refresh(false); }, 1500);
  } else {
    refresh(false);
  }
})();
