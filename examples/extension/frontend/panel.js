// The example panel: the channel's broadcaster from Helix (fetchHelix, with
// the viewer's helixToken) and a greeting from our EBS (fetchEBS, with the
// viewer's JWT). twitchauth-ext.js retries once after a 401 (with the next
// token onAuthorized brings) and after a 429 (when the rate limit resets);
// every step is written to the "What happened" list.
(function () {
  'use strict';
  var ext = window.Twitch.ext;
  // Where our EBS lives. In the twitchauth rig, Twitch.ext.rig.ebsURL is
  // the --ebs flag; on Twitch, put your backend's public URL here.
  var EBS = (ext.rig && ext.rig.ebsURL) || 'https://ebs.example.com';
  var $ = function (id) { return document.getElementById(id); };

  function note(text, cls) {
    var li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + ' ' + text;
    if (cls) li.className = cls;
    $('events').appendChild(li);
  }

  // options for fetchHelix/fetchEBS that record retries and, while one
  // waits, say so in the field being loaded (a countdown for a 429).
  function tracking(name, field) {
    var t = { retriedAfter: null, timer: null };
    t.options = {
      onRetry: function (info) {
        t.retriedAfter = info.status;
        note(name + ': ' + info.status + ', ' + info.reason + (info.status === 429 ? ' (' + Math.ceil(info.waitMs / 1000) + ' s)' : ''), 'retry');
        clearInterval(t.timer);
        if (info.status === 429) {
          var until = Date.now() + info.waitMs;
          var render = function () {
            $(field).textContent = 'rate-limited: retrying in ' + Math.max(0, Math.ceil((until - Date.now()) / 1000)) + ' s…';
          };
          render();
          t.timer = setInterval(render, 250);
        } else {
          $(field).textContent = 'token expired: waiting for a new one…';
        }
      }
    };
    t.done = function (status) {
      clearInterval(t.timer);
      var text = name + ': ' + status + (t.retriedAfter ? ' after retrying a ' + t.retriedAfter : '');
      note(text, status >= 400 ? 'error' : '');
    };
    return t;
  }

  async function loadBroadcaster() {
    var auth = TwitchAuthExt.auth();
    var t = tracking('helix', 'broadcaster');
    $('broadcaster').textContent = 'loading…';
    try {
      var r = await TwitchAuthExt.fetchHelix('/users?id=' + encodeURIComponent(auth.channelId), {}, t.options);
      t.done(r.status);
      if (!r.ok) {
        $('broadcaster').textContent = r.status === 429 ? 'Helix is rate-limiting us, try again later' :
          r.status === 401 ? 'Twitch refused our token' : 'Helix error ' + r.status;
        return;
      }
      var body = await r.json();
      $('broadcaster').textContent = body.data.length ? body.data[0].display_name : 'unknown channel';
    } catch (e) {
      clearInterval(t.timer);
      note('helix: ' + e.message, 'error');
      $('broadcaster').textContent = 'network error';
    }
  }

  async function loadGreeting() {
    var t = tracking('ebs', 'ebs');
    $('ebs').textContent = 'loading…';
    try {
      var r = await TwitchAuthExt.fetchEBS(EBS + '/api/greeting', {}, t.options);
      t.done(r.status);
      var body = await r.json().catch(function () { return {}; });
      $('ebs').textContent = r.ok ? body.message : 'backend error ' + r.status + (body.message ? ': ' + body.message : '');
    } catch (e) {
      clearInterval(t.timer);
      note('ebs: ' + e.message, 'error');
      $('ebs').textContent = 'cannot reach the backend';
    }
  }

  var running = null;
  function refresh() {
    if (!running) {
      running = Promise.all([loadBroadcaster(), loadGreeting()]).then(function () { running = null; });
    }
    return running;
  }

  var who = null;
  ext.onAuthorized(function (auth) {
    var v = ext.viewer;
    $('viewer').textContent = v.role + ' ' + auth.userId + (v.isLinked ? ' (user ' + v.id + ')' : ' (identity not shared)');
    $('share').hidden = v.isLinked || auth.userId.charAt(0) === 'A';
    // Load again when someone else is watching; a mere token refresh needs
    // no new calls.
    var key = auth.userId + '|' + v.role + '|' + v.isLinked;
    if (key !== who) {
      who = key;
      refresh();
    }
  });
  ext.onContext(function (ctx, changed) {
    if (changed.indexOf('theme') >= 0) document.body.className = ctx.theme === 'dark' ? 'dark' : 'light';
  });
  ext.onError(function (err) { note('Twitch helper: ' + err, 'error'); });
  $('refresh').addEventListener('click', refresh);
  $('share').addEventListener('click', function () { ext.actions.requestIdShare(); });
})();
