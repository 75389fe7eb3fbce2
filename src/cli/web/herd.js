/*
 * herd.js - herd's web page (index.html): every 1.5 s, GET status.json
 * (the reply of `herd status --json`), show the workers as `herd status`
 * does and add each worker's CPU% and RSS to a history of the last 5
 * minutes, kept here (the master keeps none), drawn on two canvases.
 * Read-only: GET requests only, nothing is sent to the master.
 * Every text from the master goes in with textContent, never as HTML.
 */
'use strict';

(function () {
  const POLL_MS = 1500;
  const KEEP_MS = 5 * 60 * 1000;
  const TIMEOUT_MS = 5000;
  const COLOURS = ['#2f81f7', '#e8590c', '#2b8a3e', '#ae3ec9', '#c92a2a',
    '#0b7285', '#b08800', '#5f3dc4', '#d6336c', '#495057'];
  const SIGNALS = { 1: 'HUP', 2: 'INT', 3: 'QUIT', 4: 'ILL', 5: 'TRAP', 6: 'ABRT',
    7: 'BUS', 8: 'FPE', 9: 'KILL', 10: 'USR1', 11: 'SEGV', 12: 'USR2', 13: 'PIPE',
    14: 'ALRM', 15: 'TERM', 24: 'XCPU', 25: 'XFSZ', 31: 'SYS' };

  const series = new Map(); /* pid -> {slot, colour, pts: [[t, cpu, rss]]} */
  let nextColour = 0;
  let busy = false; /* a look is under way */
  let next = 0;     /* the timer of the next one */

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  /* as herd status: 12s, 5m, 3h, 2d */
  function humanMs(ms) {
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm';
    if (s < 86400) return Math.floor(s / 3600) + 'h';
    return Math.floor(s / 86400) + 'd';
  }

  function humanBytes(b) {
    if (b < 1024) return b.toFixed(0) + 'B';
    if (b < 1048576) return (b / 1024).toFixed(1) + 'K';
    if (b < 1073741824) return (b / 1048576).toFixed(1) + 'M';
    return (b / 1073741824).toFixed(1) + 'G';
  }

  function stateClass(state) {
    if (state === 'online' || state === 'ready') return 'ok';
    if (state === 'errored' || state === 'parked') return 'bad';
    return 'warn';
  }

  function lastExit(w) {
    const le = w.last_exit;
    let t = '';
    if (le) {
      const sig = le.signal ? 'SIG' + (SIGNALS[le.signal] || le.signal) : '';
      t = le.cause + ', ' + (sig || 'code ' + le.code);
    }
    if (w.retry_ms > 0)
      t += (t ? '; ' : '') + 'retry in ' + humanMs(w.retry_ms + 999);
    return t || '-';
  }

  function colourOf(pid, slot) {
    let s = series.get(pid);
    if (!s) {
      s = { slot: slot, colour: COLOURS[nextColour++ % COLOURS.length], pts: [] };
      series.set(pid, s);
    }
    return s;
  }

  function showHeader(st) {
    document.title = st.name + ' - herd';
    $('app').textContent = st.name;
    const badge = $('state');
    badge.textContent = st.state;
    badge.className = 'badge ' + stateClass(st.state);
    const parts = ['master pid ' + st.pid, 'up ' + humanMs(st.uptime_ms),
      st.workers_ready + '/' + st.workers_wanted + ' workers ready',
      humanBytes(st.rss)];
    if (st.listen.length) parts.push('listen ' + st.listen.join(' ') + ' (' + st.balance + ')');
    if (st.reloading) parts.push('reloading');
    parts.push('herd ' + st.version);
    $('summary').textContent = parts.join(' · ');
  }

  function showRows(st) {
    const rows = [];
    const said = [];
    let saidSlot = -1;
    for (const w of st.workers) {
      const tr = el('tr');
      const sw = el('span', '', 'swatch');
      if (w.pid > 0) {
        tr.dataset.pid = String(w.pid);
        sw.style.background = colourOf(w.pid, w.slot).colour;
      }
      const box = el('td');
      box.appendChild(sw);
      tr.appendChild(box);
      tr.appendChild(el('td', String(w.slot)));
      tr.appendChild(el('td', w.pid > 0 ? String(w.pid) : '-', 'pid'));
      const state = w.retry_ms > 0 ? (w.state === 'parked' ? 'parked' : 'backoff')
        : (w.successor ? '+' : '') + w.state;
      tr.appendChild(el('td', state, 'st-' + (w.retry_ms > 0 ? state : w.state)));
      tr.appendChild(el('td', w.pid > 0 ? humanMs(w.uptime_ms) : '-', 'num'));
      tr.appendChild(el('td', String(w.restarts), 'num'));
      tr.appendChild(el('td', w.pid > 0 ? w.cpu.toFixed(1) + '%' : '-', 'num'));
      tr.appendChild(el('td', w.pid > 0 ? humanBytes(w.rss) : '-', 'num'));
      tr.appendChild(el('td', lastExit(w), 'exit'));
      rows.push(tr);
      const line = w.last_exit && w.last_exit.line;
      if (line && w.slot !== saidSlot) {
        saidSlot = w.slot;
        const li = el('li', 'slot ' + w.slot + ' said: ');
        li.appendChild(el('code', line));
        said.push(li);
      }
    }
    $('rows').replaceChildren(...rows);
    $('said').replaceChildren(...said);
  }

  function record(st, now) {
    for (const w of st.workers)
      if (w.pid > 0) colourOf(w.pid, w.slot).pts.push([now, w.cpu, w.rss]);
    for (const [pid, s] of series) {
      while (s.pts.length && s.pts[0][0] < now - KEEP_MS) s.pts.shift();
      if (!s.pts.length) series.delete(pid);
    }
  }

  /* The time the charts show: since the first look, from 1 to 5 min. */
  function timeSpan(now) {
    let first = now;
    for (const s of series.values())
      if (s.pts.length) first = Math.min(first, s.pts[0][0]);
    return Math.min(KEEP_MS, Math.max(60000, now - first));
  }

  function ago(ms) {
    const m = Math.floor(ms / 60000), s = Math.round(ms % 60000 / 1000);
    return m ? m + 'm' + (s ? s + 's' : '') : s + 's';
  }

  /* a step of 1, 2 or 5 times a power of ten giving about 4 lines */
  function niceStep(max) {
    const raw = max / 4;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return p * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
  }

  function draw(id, col, unit, now) {
    const cv = $(id);
    const dpr = window.devicePixelRatio || 1;
    const cw = cv.clientWidth, ch = cv.clientHeight;
    if (!cw || !ch) return;
    cv.width = Math.round(cw * dpr);
    cv.height = Math.round(ch * dpr);
    const g = cv.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(document.body);
    const fg = css.color, line = css.getPropertyValue('--line').trim() || '#ddd';
    const muted = css.getPropertyValue('--muted').trim() || '#888';
    let max = 0;
    for (const s of series.values())
      for (const p of s.pts) max = Math.max(max, p[col]);
    const u = unit(max);
    const step = niceStep(Math.max(max / u.div, u.min));
    const top = Math.ceil(Math.max(max / u.div, u.min) / step) * step;
    const L = 64, R = 10, T = 8, B = 22, w = cw - L - R, h = ch - T - B;
    const span = timeSpan(now);
    const x = (t) => L + w * (1 - (now - t) / span);
    const y = (v) => T + h * (1 - v / u.div / top);
    g.font = '11px system-ui, sans-serif';
    g.lineWidth = 1;
    g.textBaseline = 'middle';
    g.textAlign = 'right';
    for (let v = 0; v <= top + step / 2; v += step) {
      const yy = Math.round(T + h * (1 - v / top)) + 0.5;
      g.strokeStyle = line;
      g.beginPath(); g.moveTo(L, yy); g.lineTo(L + w, yy); g.stroke();
      g.fillStyle = muted;
      g.fillText(+v.toFixed(2) + ' ' + u.name, L - 6, yy);
    }
    g.textAlign = 'center';
    g.textBaseline = 'alphabetic';
    const tick = span <= 60000 ? 10000 : span <= 180000 ? 30000 : 60000;
    for (let t = 0; t <= span; t += tick)
      g.fillText(t ? '-' + ago(t) : 'now', Math.min(x(now - t), L + w - 12), ch - 6);
    g.strokeStyle = fg;
    g.globalAlpha = 0.4;
    g.strokeRect(L + 0.5, T + 0.5, w, h);
    g.globalAlpha = 1;
    if (!series.size) {
      g.fillStyle = muted;
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.fillText('no worker running', L + w / 2, T + h / 2);
    }
    g.lineWidth = 1.6;
    g.lineJoin = 'round';
    for (const s of series.values()) {
      g.strokeStyle = s.colour;
      g.beginPath();
      let prev = null;
      for (const p of s.pts) {
        /* a gap (the master did not answer, the tab slept) is left blank */
        if (prev && p[0] - prev[0] < 4 * POLL_MS) g.lineTo(x(p[0]), y(p[col]));
        else g.moveTo(x(p[0]), y(p[col]));
        prev = p;
      }
      g.stroke();
      if (s.pts.length === 1) {
        g.fillStyle = s.colour;
        g.fillRect(x(s.pts[0][0]) - 2, y(s.pts[0][col]) - 2, 4, 4);
      }
    }
  }

  const cpuUnit = () => ({ div: 1, min: 5, name: '%' });
  function rssUnit(max) {
    if (max < 1048576) return { div: 1024, min: 1, name: 'K' };
    if (max < 1073741824) return { div: 1048576, min: 1, name: 'M' };
    return { div: 1073741824, min: 1, name: 'G' };
  }

  function drawAll() {
    const now = Date.now();
    draw('cpu', 1, cpuUnit, now);
    draw('rss', 2, rssUnit, now);
  }

  function connection(ok, text) {
    const c = $('conn');
    c.textContent = text;
    c.className = ok ? 'conn' : 'conn bad';
  }

  async function poll() {
    busy = true;
    next = 0;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      const r = await fetch('status.json', { cache: 'no-store', signal: ctl.signal });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const st = await r.json();
      const now = Date.now();
      showHeader(st);
      showRows(st);
      record(st, now);
      connection(true, 'updated ' + new Date(now).toLocaleTimeString() +
        ', every ' + POLL_MS / 1000 + ' s');
    } catch (e) {
      connection(false, 'the master does not answer (' + (e.message || e) + ') at ' +
        new Date().toLocaleTimeString() + ': trying again');
    } finally {
      clearTimeout(timer);
      busy = false;
    }
    drawAll();
    /* the next look once this one is over: never two at a time; none
     * while the page is hidden (it starts again when it is shown) */
    if (!document.hidden) next = setTimeout(poll, POLL_MS);
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !busy && !next) poll();
  });
  window.addEventListener('resize', drawAll);
  poll();
})();
