// The topology diagram and its animation: every DNS message and HTTP
// request from the event stream moves along its path as it happens.

const NS = 'http://www.w3.org/2000/svg';
const W = 150, H = 58; // smallest node size in viewBox units (the text widens a node)
const LEG = 380;       // ms per hop
const BACKLOG = 5000;  // DNS animations queue at most this far ahead, then are skipped
const MAX_LIVE = 60;   // packets on screen at once

function svg(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.append(e);
  return e;
}

function text(parent, x, y, cls, s) {
  const t = svg('text', {x, y, class: cls, 'text-anchor': 'middle'}, parent);
  t.textContent = s;
  return t;
}

// glyph draws a state's shape at x,y: circle up, half circle draining,
// square maintenance, cross down.
function glyph(parent, state, x, y) {
  const g = svg('g', {class: 'glyph ' + state, transform: `translate(${x},${y})`}, parent);
  switch (state) {
  case 'up': svg('circle', {r: 9}, g); break;
  case 'draining': svg('circle', {r: 9, fill: '#fff', stroke: '#111', 'stroke-width': 2}, g); svg('path', {d: 'M0,-9 A9,9 0 0,1 0,9 Z'}, g); break;
  case 'maintenance': svg('rect', {x: -8, y: -8, width: 16, height: 16}, g); break;
  case 'mixed': svg('path', {d: 'M0,-10 L10,0 L0,10 L-10,0 Z'}, g); break;
  case 'down': case 'unreachable': svg('path', {d: 'M-8,-8 L8,8 M8,-8 L-8,8', stroke: '#D55E00', 'stroke-width': 5}, g); break;
  default: svg('circle', {r: 8, fill: '#fff', stroke: '#444', 'stroke-width': 2}, g);
  }
  return g;
}

export class Topo {
  constructor(root, cfg) {
    this.root = root;
    this.cfg = cfg;
    this.nodes = new Map();   // id → {x, y, g, ...}
    this.byAddr = new Map();  // "127.0.1.1:1053" → node id
    this.live = [];
    this.laneFree = 0;
    this.paused = false;
    this.skipped = 0;
    this.reduced = matchMedia('(prefers-reduced-motion: reduce)').matches;
    this.recentUp = new Map(); // server|name|qtype → time of the resolver's upstream exchange
    this.edges = svg('g', {}, root);
    this.layer = svg('g', {}, root);
    this.pkts = svg('g', {}, root);
    text(root, 14, 30, 'band', 'DNS').setAttribute('text-anchor', 'start');
    text(root, 14, 608, 'band', 'HTTP').setAttribute('text-anchor', 'start');
    svg('line', {x1: 170, x2: 990, y1: 318, y2: 318, stroke: '#bbb', 'stroke-width': 2, 'stroke-dasharray': '8 8'}, root);
    this.node('client', 85, 318, 'clients', 'dig · curl · you');
    this.node('resolver', 255, 160, 'resolver', cfg.resolver || '');
    this.byAddr.set(cfg.resolver, 'resolver');
    this.edge('client', 'resolver');
    const n = cfg.lbds.length, gap = Math.min(72, 200 / Math.max(1, n - 1));
    cfg.lbds.forEach((lb, i) => {
      this.node('lb:' + lb.name, 420, 362 + i * gap, lb.name, lb.admin.replace(/:\d+$/, ''));
      this.edge('client', 'lb:' + lb.name);
    });
    requestAnimationFrame((t) => this.tick(t));
  }

  node(id, x, y, title, sub) {
    const g = svg('g', {class: 'node', transform: `translate(${x},${y})`}, this.layer);
    const r = svg('rect', {x: -W / 2, y: -H / 2, width: W, height: H, rx: 8}, g);
    const t = text(g, 0, -4, 'title', title);
    const s = text(g, 0, 20, 'sub', sub);
    const n = {id, x, y, g, r, t, s, w: W};
    this.nodes.set(id, n);
    this.fit(n);
    return n;
  }

  // fit widens a node to its text.
  fit(n) {
    const w = Math.max(W, n.t.getComputedTextLength() + (n.glyph ? 64 : 26), n.s.getComputedTextLength() + 20);
    if (Math.abs(w - n.w) < 1) return;
    n.w = w;
    n.r.setAttribute('x', -w / 2);
    n.r.setAttribute('width', w);
    if (n.glyph) n.glyph.setAttribute('transform', `translate(${-w / 2 + 22},-11)`);
  }

  edge(a, b) {
    const p = this.nodes.get(a), q = this.nodes.get(b);
    if (p && q) svg('line', {class: 'edge', x1: p.x, y1: p.y, x2: q.x, y2: q.y}, this.edges);
  }

  // setZones draws one node per zone from dnsd's zones API, the root at
  // the top and each level of delegation a step down and to the right.
  setZones(zones) {
    const depth = (o) => (o === '.' ? 0 : o.split('.').length - 1);
    const role = (o) => (o === '.' ? 'root' : depth(o) === 1 ? 'TLD' : 'auth');
    const seen = new Map();
    for (const z of [...zones].sort((a, b) => depth(a.origin) - depth(b.origin))) {
      const d = Math.min(depth(z.origin), 3);
      const k = seen.get(d) || 0;
      seen.set(d, k + 1);
      const id = 'zone:' + z.origin;
      if (this.nodes.has(id)) continue;
      const addrs = (z.servers || []).map((s) => s.replace(/:\d+$/, ''));
      const at = `${addrs[0] || ''}${addrs.length > 1 ? ' +' + (addrs.length - 1) : ''}`;
      const auth = role(z.origin) === 'auth';
      this.node(id, [440, 590, 730, 835][d], 46 + d * 74 + k * 74, auth ? z.origin : `${role(z.origin)} ${z.origin}`, auth ? 'auth ' + at : at);
      for (const s of z.servers || []) this.byAddr.set(s, id);
      this.edge('resolver', id);
    }
  }

  // setBackends draws the backends behind every lbd.
  setBackends(ids) {
    ids.forEach((id, i) => {
      if (this.nodes.has('be:' + id)) return;
      const n = this.node('be:' + id, 790, 380 + i * 90, id, '');
      n.t.setAttribute('x', 16);
      for (const lb of this.cfg.lbds) this.edge('lb:' + lb.name, 'be:' + id);
    });
  }

  // setState shows a node's state by its outline, a shape and words.
  setState(id, state, sub) {
    const n = this.nodes.get(id);
    if (!n) return;
    if (n.state !== state) {
      n.g.setAttribute('class', 'node ' + (state || ''));
      if (n.glyph) n.glyph.remove();
      n.glyph = state && id.startsWith('be:') ? glyph(n.g, state, -n.w / 2 + 22, -11) : null;
      n.state = state;
    }
    if (sub !== undefined) n.s.textContent = sub;
    this.fit(n);
  }

  highlight(id, ms = 2500) {
    const n = this.nodes.get(id);
    if (!n) return;
    n.g.classList.add('hl');
    setTimeout(() => n.g.classList.remove('hl'), ms);
  }

  // flash puts a short label by a node, one at a time: above it, or
  // beside it in the HTTP columns (stacked nodes; on the left when the
  // right has no room), below it at the top.
  flash(id, label, err) {
    const n = this.nodes.get(id);
    if (!n || !label) return;
    if (n.flash) n.flash.remove();
    const g = svg('g', {class: 'flash' + (err ? ' err' : '')}, this.pkts);
    const r = svg('rect', {rx: 5, y: -16, height: 30}, g);
    const t = text(g, 0, 7, '', label.length > 24 ? label.slice(0, 23) + '…' : label);
    const w = Math.max(40, t.getComputedTextLength() + 14);
    let x = n.x, y = n.y - H / 2 - 18;
    if (id.startsWith('lb:') || id.startsWith('be:')) {
      x = n.x + n.w / 2 + w / 2 + 6; y = n.y;
      if (x + w / 2 > 996) x = n.x - n.w / 2 - w / 2 - 6; // no room on the right: on the left, not over the node
    }
    else if (y < 18) y = n.y + H / 2 + 18;
    x = Math.min(Math.max(x, w / 2 + 4), 996 - w / 2); // inside the picture
    g.setAttribute('transform', `translate(${x},${y})`);
    r.setAttribute('x', -w / 2);
    r.setAttribute('width', w);
    n.flash = g;
    setTimeout(() => { g.remove(); if (n.flash === g) n.flash = null; }, 1400);
  }

  // play animates one message over its legs [{a, b, label, err}], starting
  // at t0 (ms, performance clock). kind is dns or http.
  play(kind, legs, t0) {
    if (this.paused) return;
    if (this.reduced) { // no movement: the labels only
      legs.forEach((l, i) => setTimeout(() => this.flash(l.b, l.label, l.err), Math.max(0, t0 - performance.now()) + i * 250));
      return;
    }
    if (this.live.length >= MAX_LIVE) { this.skipped++; return; }
    const err = legs.some((l) => l.err);
    const cls = `pkt ${kind}${err ? ' err' : ''}`;
    const el = kind === 'dns' ? svg('circle', {r: 11, class: cls}, this.pkts) : svg('rect', {x: -9, y: -9, width: 18, height: 18, class: cls}, this.pkts);
    el.style.display = 'none';
    this.live.push({el, legs, t0, done: -1});
  }

  // sequence queues DNS legs one after another, so a walk from the root
  // down reads in order; past the backlog they are skipped (and counted).
  sequence(legs) {
    const now = performance.now();
    const t0 = Math.max(now, this.laneFree);
    if (t0 - now > BACKLOG) { this.skipped++; return; }
    this.laneFree = t0 + legs.length * LEG;
    this.play('dns', legs, t0);
  }

  tick(now) {
    this.live = this.live.filter((p) => {
      const k = Math.floor((now - p.t0) / LEG);
      if (k < 0) return true;
      while (p.done < Math.min(k, p.legs.length) - 1) { // legs finished since the last frame
        p.done++;
        const l = p.legs[p.done];
        this.flash(l.b, l.label, l.err);
      }
      if (k >= p.legs.length) { p.el.remove(); return false; }
      const l = p.legs[k], a = this.nodes.get(l.a), b = this.nodes.get(l.b);
      if (!a || !b) { p.el.remove(); return false; }
      const f = (now - p.t0 - k * LEG) / LEG;
      const x = a.x + (b.x - a.x) * f, y = a.y + (b.y - a.y) * f;
      p.el.style.display = '';
      p.el.setAttribute('transform', `translate(${x},${y})`);
      return true;
    });
    requestAnimationFrame((t) => this.tick(t));
  }

  setPaused(p) {
    this.paused = p;
    if (p) { for (const x of this.live) x.el.remove(); this.live = []; this.laneFree = 0; }
  }

  // onEvent turns one event of the stream into movement.
  onEvent(ev) {
    switch (ev.type) {
    case 'dns.upstream': return this.upstream(ev);
    case 'dns.query': return this.query(ev);
    case 'lb.request': return this.request(ev);
    }
  }

  upstream(ev) {
    const to = this.byAddr.get(ev.server);
    this.recentUp.set(`${ev.server}|${ev.name}|${ev.qtype}`, performance.now());
    if (!to) return;
    const legs = [];
    if (ev.id !== this.lastRes) { // a new resolution: the client asked the resolver first
      this.lastRes = ev.id;
      legs.push({a: 'client', b: 'resolver', label: `${short(ev.name)} ${ev.qtype} miss`});
    }
    const bad = ['timeout', 'error', 'lame'].includes(ev.outcome);
    legs.push({a: 'resolver', b: to, label: `${ev.qtype}?`}, {a: to, b: 'resolver', label: ev.outcome, err: bad});
    this.sequence(legs);
  }

  query(ev) {
    const err = ev.rcode && ev.rcode !== 'NOERROR' && ev.rcode !== 'NXDOMAIN';
    const said = ev.answers && ev.answers.length ? ev.answers[0] + (ev.answers.length > 1 ? ' +' + (ev.answers.length - 1) : '') : ev.rcode;
    if (ev.source === 'resolver' || this.byAddr.get(ev.server) === 'resolver') {
      const hit = ev.cache === 'hit' || ev.cache === 'stale' || ev.cache === 'coalesced';
      const legs = hit ? [{a: 'client', b: 'resolver', label: `cache ${ev.cache}`}] : [];
      legs.push({a: 'resolver', b: 'client', label: said, err});
      this.sequence(legs);
      return;
    }
    // a query straight to a server: unless it was the resolver asking
    // (that one is drawn from the dns.upstream event), client → server
    const key = `${ev.server}|${ev.name}|${ev.qtype}`;
    setTimeout(() => {
      const up = this.recentUp.get(key);
      if (up && performance.now() - up < 2000) return;
      const to = this.byAddr.get(ev.server);
      if (to) this.sequence([{a: 'client', b: to, label: `${short(ev.name)} ${ev.qtype}?`}, {a: to, b: 'client', label: ev.geo ? `${said} (${ev.geo.pool})` : said, err}]);
    }, 300);
  }

  request(ev) {
    const lb = 'lb:' + (this.nodes.has('lb:' + ev.lbd) ? ev.lbd : ev.src);
    if (!this.nodes.has(lb)) return;
    const err = ev.error || ev.status >= 500;
    const legs = [{a: 'client', b: lb, label: ''}];
    if (ev.backend && this.nodes.has('be:' + ev.backend)) {
      legs.push({a: lb, b: 'be:' + ev.backend, label: ev.reason || ''}, {a: 'be:' + ev.backend, b: lb, label: String(ev.status || ''), err});
    }
    legs.push({a: lb, b: 'client', label: ev.error || (legs.length === 1 ? String(ev.status || '') : ''), err});
    this.play('http', legs, performance.now());
  }

  // playPath animates an explained resolution (the "stand in a region"
  // answer): client → resolver, each hop, and back.
  playPath(res, label) {
    const legs = [{a: 'client', b: 'resolver', label}];
    for (const hop of (res && res.hops) || []) {
      const to = this.byAddr.get(hop.server);
      if (!to || hop.depth > 0) continue;
      legs.push({a: 'resolver', b: to, label: (hop.question || '').split(/\s+/).pop() + '?'}, {a: to, b: 'resolver', label: hop.kind, err: ['timeout', 'error', 'lame', 'servfail'].includes(hop.kind)});
    }
    legs.push({a: 'resolver', b: 'client', label: res && res.answer && res.answer.length ? lastField(res.answer[0]) : (res && res.rcode) || ''});
    this.sequence(legs);
  }
}

function short(name) { return (name || '').replace(/\.$/, ''); }
function lastField(rr) { const f = rr.split(/\s+/); return f[f.length - 1]; }
