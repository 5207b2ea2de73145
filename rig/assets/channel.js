// The twitchauth rig's channel page: hosts the extension's frame, plays the
// part of Twitch's page (viewer, context) over postMessage, and drives the
// rig's API. Plain ES2017.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var MSG = 'twitchauth-rig';
  var params = new URLSearchParams(location.search);
  var state = {
    view: params.get('view') || '',
    viewer: params.get('viewer') || 'viewer',
    identity: params.get('identity') || 'linked',
    theme: params.get('theme') || 'dark',
    expire: 'never'
  };
  var info = null;
  var frame = null;
  var lastAuth = null;
  var countdown = null;
  var bucketTimer = null;

  function log(text, level) {
    var li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + ' ' + text;
    if (level) li.className = level;
    var ol = $('log');
    ol.insertBefore(li, ol.firstChild);
    while (ol.children.length > 200) ol.removeChild(ol.lastChild);
  }
  function api(method, path, body) {
    var init = { method: method, headers: {}, credentials: 'same-origin' };
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error(method + ' ' + path + ': ' + r.status + ' ' + (j.message || r.statusText));
        return j;
      });
    });
  }
  function saveURL() {
    var q = new URLSearchParams();
    Object.keys(state).forEach(function (k) { if (k !== 'expire' && state[k]) q.set(k, state[k]); });
    history.replaceState(null, '', '?' + q.toString());
  }
  function send(msg) {
    if (!frame || !frame.contentWindow) return;
    msg.source = MSG;
    frame.contentWindow.postMessage(msg, location.origin);
  }
  function modeOf(anchor) {
    return anchor === 'config' ? 'config' : anchor === 'live_config' ? 'dashboard' : 'viewer';
  }
  function contextOf(anchor) {
    return { theme: state.theme, mode: modeOf(anchor) };
  }
  function currentView() {
    return (info.views || []).filter(function (v) { return v.path === state.view; })[0];
  }

  function load() {
    var v = currentView();
    $('panel-slot').textContent = '';
    $('overlay-slot').textContent = '';
    frame = null;
    if (!v) { $('status').textContent = 'The extension folder has no HTML file.'; return; }
    if (!v.helper) log(v.path + ' does not include Twitch\'s helper script; the rig injected it, but Twitch requires the <script> tag', 'error');
    var slot = v.anchor === 'video_overlay' || v.anchor === 'video_component' ? $('overlay-slot') : $('panel-slot');
    $('panel-slot').className = v.anchor === 'config' || v.anchor === 'live_config' ? 'config' : '';
    var q = new URLSearchParams({
      anchor: v.anchor === 'live_config' ? 'dashboard' : v.anchor, language: 'en', locale: 'en-US',
      mode: modeOf(v.anchor), platform: 'web', popout: 'false', state: 'testing',
      viewer: state.viewer, identity: state.identity
    });
    frame = document.createElement('iframe');
    frame.id = 'extension-frame';
    frame.title = 'Extension: ' + v.path;
    frame.setAttribute('sandbox', 'allow-scripts allow-forms allow-same-origin allow-popups allow-popups-to-escape-sandbox allow-modals');
    frame.src = 'ext/' + v.path.split('/').map(encodeURIComponent).join('/') + '?' + q.toString();
    slot.appendChild(frame);
    lastAuth = null;
    showStatus();
    log('loaded ' + v.path + ' (' + v.anchor + ')');
  }
  function settings(force) {
    send({ type: 'settings', settings: { viewer: state.viewer, identity: state.identity, expire: state.expire }, force: !!force });
  }

  function showStatus() {
    clearInterval(countdown);
    var el = $('status');
    if (!lastAuth) { el.textContent = 'Waiting for the extension…'; el.className = ''; return; }
    var a = lastAuth;
    var render = function () {
      var left = Math.round((a.expiresAt - Date.now()) / 1000);
      var expired = left < 0 || a.expired;
      el.className = expired ? 'expired' : '';
      el.textContent = 'role ' + a.role + ' · opaque_user_id ' + a.opaqueId +
        (a.userId ? ' · user_id ' + a.userId : ' · identity not shared') + (a.isUnlinked ? ' · is_unlinked' : '') +
        ' · ' + (expired ? 'token EXPIRED' : 'token expires in ' + left + ' s');
    };
    render();
    countdown = setInterval(render, 1000);
  }

  function secondsUntil(ms) { return Math.max(0, Math.ceil((ms - Date.now()) / 1000)); }

  // showBucket counts down to the reset of an exhausted bucket.
  function showBucket(who, reset) {
    clearInterval(bucketTimer);
    var el = $('bucket');
    el.hidden = false;
    var render = function () {
      var left = secondsUntil(reset);
      if (left > 0) {
        el.className = '';
        el.textContent = 'Helix bucket of ' + who + ' empty: 429 until ' + new Date(reset).toLocaleTimeString() + ' (resets in ' + left + ' s)';
        return;
      }
      el.className = 'full';
      el.textContent = 'Helix bucket of ' + who + ' full again';
      clearInterval(bucketTimer);
    };
    render();
    bucketTimer = setInterval(render, 250);
  }

  window.addEventListener('message', function (ev) {
    if (!frame || ev.source !== frame.contentWindow || ev.origin !== location.origin) return;
    var m = ev.data;
    if (!m || m.source !== MSG + '-ext') return;
    switch (m.type) {
      case 'ready':
        send({ type: 'context', context: contextOf(currentView().anchor), changed: ['theme', 'mode'] });
        settings(true);
        send({ type: 'visibility', visible: true });
        break;
      case 'authorized':
        lastAuth = m;
        showStatus();
        log('onAuthorized: ' + m.role + ' ' + m.opaqueId + (m.expired ? ' (expired token)' : ''));
        break;
      case 'log':
        log('extension: ' + m.text, m.level);
        break;
      case 'requestIdShare':
        if (state.identity !== 'linked' && state.viewer !== 'anonymous' && confirm('The extension asks to share your identity. Share it?')) {
          state.identity = 'linked';
          $('identity').value = 'linked';
          saveURL();
          settings(false);
        }
        break;
    }
  });

  function wire() {
    $('view').addEventListener('change', function () { state.view = this.value; saveURL(); load(); });
    $('viewer').addEventListener('change', function () { state.viewer = this.value; $('identity').disabled = state.viewer === 'anonymous'; saveURL(); settings(false); });
    $('identity').addEventListener('change', function () { state.identity = this.value; saveURL(); settings(false); });
    $('reauth').addEventListener('click', function () { settings(true); });
    $('expire').addEventListener('click', function () { log('expiring the token: the next onAuthorized carries an expired JWT'); send({ type: 'expire' }); });
    $('keep-expired').addEventListener('change', function () { state.expire = this.checked ? 'always' : 'never'; settings(true); });
    $('exhaust').addEventListener('click', function () {
      if (!lastAuth) { log('no viewer yet', 'error'); return; }
      var who = lastAuth.opaqueId;
      var btn = this;
      btn.disabled = true;
      api('POST', 'api/exhaust', { opaque_user_id: who }).then(function (r) {
        var reset = Number(r.ratelimit_reset) * 1000;
        log('Helix bucket of ' + who + ' exhausted: Helix answers ' + r.status + ' until ' + new Date(reset).toLocaleTimeString() +
          ' (Ratelimit-Reset ' + r.ratelimit_reset + ', in ' + secondsUntil(reset) + ' s), then the bucket is full again');
        showBucket(who, reset);
      }).catch(function (e) { log(e.message, 'error'); }).then(function () { btn.disabled = false; });
    });
    $('theme').addEventListener('change', function () {
      state.theme = this.value;
      document.body.className = 'theme-' + state.theme;
      saveURL();
      send({ type: 'context', context: { theme: state.theme }, changed: ['theme'] });
    });
    $('config-form').addEventListener('submit', function (e) {
      e.preventDefault();
      api('PUT', 'api/config', { segment: $('config-segment').value, version: $('config-version').value, content: $('config-content').value })
        .then(function () { log('configuration: ' + $('config-segment').value + ' segment set'); })
        .catch(function (err) { log(err.message, 'error'); });
    });
    $('pubsub-form').addEventListener('submit', function (e) {
      e.preventDefault();
      api('POST', 'api/pubsub/publish', { target: $('pubsub-target').value, content_type: 'application/json', message: $('pubsub-message').value })
        .then(function (r) { log('PubSub: delivered to ' + r.delivered + ' listener(s)'); })
        .catch(function (err) { log(err.message, 'error'); });
    });
  }

  function start() {
    $('viewer').value = state.viewer;
    $('identity').value = state.identity;
    $('identity').disabled = state.viewer === 'anonymous';
    $('theme').value = state.theme;
    document.body.className = 'theme-' + state.theme;
    wire();
    api('GET', 'api/info').then(function (i) {
      info = i;
      $('channel-name').textContent = i.channel.display_name;
      $('channel-title').textContent = i.channel.display_name + ' (' + i.channel.login + ', id ' + i.channel.id + ')';
      $('client-id').textContent = i.client_id;
      var labels = { broadcaster: i.channel, moderator: i.moderator, viewer: i.viewer };
      Array.prototype.forEach.call($('viewer').options, function (o) {
        if (labels[o.value]) o.textContent = o.textContent.replace(/ \(.*\)$/, '') + ' (' + labels[o.value].login + ')';
      });
      var sel = $('view');
      (i.views || []).forEach(function (v) {
        var o = document.createElement('option');
        o.value = v.path;
        o.textContent = v.path + ' — ' + v.anchor;
        sel.appendChild(o);
      });
      if (!currentView() && i.views && i.views.length) state.view = i.views[0].path;
      sel.value = state.view;
      saveURL();
      log('extension ' + i.client_id + ' on channel ' + i.channel.login + (i.ebs_url ? ', EBS ' + i.ebs_url : ''));
      load();
    }).catch(function (e) {
      $('status').textContent = 'The rig cannot start: ' + e.message;
      log(e.message, 'error');
    });
  }
  start();
})();
