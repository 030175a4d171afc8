/*
 * clickpulse browser snippet: automatic page views (also for single-page-app navigation),
 * clickpulse.track(name, props) for anything else, batched and sent with sendBeacon.
 *
 *   <script src="https://collector.example/clickpulse.js" data-site="site-1" defer></script>
 *   optional: data-key="<write key>"  data-endpoint="https://.../collect"
 *
 * Served minified by the collector (comment lines and indentation dropped), so:
 * comments sit on lines of their own, and every statement ends with a semicolon.
 * The served size is tested to stay under 2 KB.
 */
(function (w, d, h) {
  var s = d.currentScript;
  if (!s || w.clickpulse) return;
  var site = s.getAttribute('data-site');
  var key = s.getAttribute('data-key');
  var url = (s.getAttribute('data-endpoint') || s.src.replace(/[^\/]*$/, 'collect')) + (key ? '?key=' + encodeURIComponent(key) : '');
  // 30 minutes without an event ends a session
  var IDLE = 18e5;
  var q = [], m = {}, timer = 0, lastPath, ref = d.referrer;
  // only another site is a referrer: where a visitor came from within the site is in the page views
  if (ref.split('/')[2] == location.host) ref = '';
  // localStorage can be missing or throw (private mode, sandboxed frames): fall back to memory
  function get(k) {
    try { return localStorage.getItem(k) || m[k]; } catch (e) { return m[k]; }
  }
  function set(k, v) {
    m[k] = v;
    try { localStorage.setItem(k, v); } catch (e) {}
  }
  function id() {
    return Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  }
  var aid = get('cp_aid') || id();
  set('cp_aid', aid);
  function session(now) {
    var sid = get('cp_sid');
    if (!sid || !(now - get('cp_seen') < IDLE)) set('cp_sid', sid = id());
    set('cp_seen', now);
    return sid;
  }
  function flush() {
    clearTimeout(timer);
    timer = 0;
    if (!q.length) return;
    var body = JSON.stringify(q);
    q = [];
    // sendBeacon survives the page going away; it refuses when its queue is full
    if (!(navigator.sendBeacon && navigator.sendBeacon(url, body))) {
      fetch(url, {method: 'POST', body: body, keepalive: true, headers: {'Content-Type': 'text/plain'}}).catch(function () {});
    }
  }
  function track(type, props) {
    var now = Date.now();
    var e = {event_id: id(), event_type: type, site_id: site, user_id: aid, session_id: session(now), ts: now, page: location.pathname.slice(0, 2048)};
    if (type == 'page_view') {
      if (ref) e.referrer = ref.slice(0, 2048);
      ref = '';
      // campaign tags of the address, for acquisition (the first event of a session decides)
      var p = new URLSearchParams(location.search);
      ['source', 'medium', 'campaign'].forEach(function (k) {
        if (p.get('utm_' + k)) e['utm_' + k] = p.get('utm_' + k).slice(0, 256);
      });
    }
    if (props) e.properties = props;
    q.push(e);
    if (q.length > 9) flush();
    else if (!timer) timer = setTimeout(flush, 5e3);
  }
  function pageView() {
    if (location.pathname == lastPath) return;
    lastPath = location.pathname;
    track('page_view');
  }
  ['pushState', 'replaceState'].forEach(function (f) {
    var orig = h[f];
    h[f] = function () {
      var r = orig.apply(this, arguments);
      pageView();
      return r;
    };
  });
  w.addEventListener('popstate', pageView);
  w.addEventListener('pagehide', flush);
  d.addEventListener('visibilitychange', function () {
    if (d.visibilityState == 'hidden') flush();
  });
  w.clickpulse = {track: track, flush: flush};
  pageView();
})(window, document, history);
