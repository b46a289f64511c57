// Backends: state, weight, in-flight and requests/s summed over every lbd
// that fronts them, with drain / undrain / maintenance applied to all.
import {api, poll, h, stateBadge, GLYPH} from './api.js';

const HISTORY = 60; // seconds of requests/s in the sparkline

export class Backends {
  constructor(tbody, cfg, topo, say) {
    Object.assign(this, {tbody, cfg, topo, say});
    this.rows = new Map();    // backend id → {tr, cells…, hist}
    this.seen = new Map();    // "lbd|b1" → {requests, at}
    this.views = new Map();   // lbd name → [BackendView] | Error
    this.poller = poll(() => this.refresh(), 1000);
  }

  onEvent(ev) {
    if (ev.type === 'lb.backend' || ev.type === 'lb.health') this.poller.kick();
  }

  async refresh() {
    const now = performance.now();
    const got = await Promise.allSettled(this.cfg.lbds.map((lb) =>
      api('GET', `/lb/${encodeURIComponent(lb.name)}/api/v1/pools/${encodeURIComponent(this.cfg.pool)}/backends?limit=100`)));
    const ids = [];
    const per = new Map(); // backend id → [{lbd, view}]
    got.forEach((r, i) => {
      const lb = this.cfg.lbds[i].name;
      if (r.status !== 'fulfilled') {
        this.views.set(lb, r.reason);
        this.topo.setState('lb:' + lb, 'unreachable', 'not answering');
        return;
      }
      this.views.set(lb, r.value.data);
      this.topo.setState('lb:' + lb, '', this.cfg.lbds[i].admin.replace(/:\d+$/, ''));
      for (const v of r.value.data) {
        if (!per.has(v.id)) { per.set(v.id, []); ids.push(v.id); }
        per.get(v.id).push({lbd: lb, v});
      }
    });
    ids.sort();
    this.topo.setBackends(ids);
    for (const id of ids) this.update(id, per.get(id), now);
  }

  update(id, list, now) {
    const row = this.rows.get(id) || this.row(id);
    let rps = 0, inflight = 0;
    for (const {lbd, v} of list) {
      const k = lbd + '|' + id, prev = this.seen.get(k);
      if (prev && now > prev.at && v.requests >= prev.requests) rps += (v.requests - prev.requests) * 1000 / (now - prev.at);
      this.seen.set(k, {requests: v.requests, at: now});
      inflight += v.in_flight;
    }
    const states = [...new Set(list.map((x) => x.v.state))];
    const state = states.length === 1 ? states[0] : 'mixed';
    row.tr.dataset.state = state;
    row.state.replaceChildren(stateBadge(state));
    row.per.replaceChildren(...list.map((x, i) => h('span', {}, `${i ? ' · ' : ''}${x.lbd.replace(/^lbd-?/, '') || 'main'} ${GLYPH[x.v.state] || '?'}${x.v.state === state ? '' : ' ' + x.v.state}`)));
    const weights = [...new Set(list.map((x) => x.v.weight))];
    row.weight.textContent = weights.join('/');
    row.inflight.textContent = inflight;
    row.hist.push(rps);
    if (row.hist.length > HISTORY) row.hist.shift();
    row.rps.textContent = rps < 10 ? rps.toFixed(1) : Math.round(rps);
    spark(row.spark, row.hist);
    this.topo.setState('be:' + id, state, `${state} · ${inflight} in flight`);
  }

  row(id) {
    const mk = (state, word) => h('button', {type: 'button', 'data-act': state, 'aria-label': `${word} ${id} on every lbd`, onclick: () => this.act(id, state, word)}, word);
    const r = {
      state: h('span'), per: h('div', {class: 'per-lbd'}), weight: h('td', {class: 'num'}), inflight: h('td', {class: 'num'}),
      rps: h('span', {class: 'rps'}), spark: document.createElementNS('http://www.w3.org/2000/svg', 'svg'), hist: [],
    };
    r.spark.setAttribute('class', 'spark');
    r.spark.setAttribute('viewBox', `0 0 ${HISTORY} 20`);
    r.spark.setAttribute('preserveAspectRatio', 'none');
    r.spark.setAttribute('aria-hidden', 'true');
    r.tr = h('tr', {id: 'backend-' + id, 'data-backend': id},
      h('th', {scope: 'row', class: 'bid'}, id),
      h('td', {class: 'state'}, r.state, r.per),
      r.weight, r.inflight,
      h('td', {class: 'num rpscell'}, r.rps, r.spark),
      h('td', {}, h('div', {class: 'actions'}, mk('draining', 'Drain'), mk('up', 'Undrain'), mk('maintenance', 'Maintenance'))));
    this.rows.set(id, r);
    const sorted = [...this.rows.keys()].sort();
    const next = sorted[sorted.indexOf(id) + 1];
    this.tbody.insertBefore(r.tr, next ? this.rows.get(next).tr : null);
    return r;
  }

  // act sets the state on every lbd that fronts the backend, and says
  // what each one answered.
  async act(id, state, word) {
    const targets = this.cfg.lbds.filter((lb) => {
      const v = this.views.get(lb.name);
      return Array.isArray(v) ? v.some((b) => b.id === id) : true; // unreachable now: try anyway
    });
    const res = await Promise.allSettled(targets.map((lb) =>
      api('PATCH', `/lb/${encodeURIComponent(lb.name)}/api/v1/pools/${encodeURIComponent(this.cfg.pool)}/backends/${encodeURIComponent(id)}`, {state})));
    const bad = [];
    res.forEach((r, i) => { if (r.status !== 'fulfilled') bad.push(`${targets[i].name}: ${r.reason.message}`); });
    if (bad.length === 0) this.say(`${word} ${id}: done on ${targets.map((t) => t.name).join(', ')}`);
    else this.say(`${word} ${id} failed on ${bad.length} of ${targets.length} lbds — ${bad.join('; ')}`, true);
    this.poller.kick();
  }
}

function spark(el, hist) {
  const max = Math.max(1, ...hist);
  const pts = hist.map((v, i) => `${i + HISTORY - hist.length},${(20 - (v / max) * 18 - 1).toFixed(1)}`).join(' ');
  let pl = el.firstChild;
  if (!pl) pl = el.appendChild(document.createElementNS('http://www.w3.org/2000/svg', 'polyline'));
  pl.setAttribute('points', pts);
  pl.setAttribute('vector-effect', 'non-scaling-stroke');
}
