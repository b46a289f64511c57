// The event log: the last events of every stream, newest first, filtered
// by type and by text.
import {h, fmtTime} from './api.js';

const KEEP = 500;  // events kept
const SHOW = 150;  // rows shown
const TYPES = [
  ['dns.query', 'DNS queries'], ['dns.upstream', 'upstream'], ['dns.cache', 'cache'],
  ['lb.request', 'HTTP requests'], ['lb.backend', 'backend states'], ['lb.health', 'passing health checks', 'off'], ['other', 'other'],
];
// Four lbds check every backend every few seconds: passing checks would
// bury the queries, so they start hidden; a failing check always shows.
const GLYPHS = {'dns.query': '●', 'dns.upstream': '↳', 'dns.cache': '◷', 'lb.request': '■', 'lb.backend': '◐', 'lb.health': '♥', source: '⇄', dropped: '⚠'};

export class Log {
  constructor(list, tools, count) {
    this.list = list;
    this.count = count;
    this.events = [];
    this.total = 0;
    this.paused = false;
    this.on = new Set(TYPES.filter((t) => t[2] !== 'off').map((t) => t[0]));
    this.filter = '';
    const fs = tools.querySelector('#log-types');
    for (const [t, label] of TYPES) {
      const id = 'lt-' + t.replace('.', '-');
      fs.append(h('span', {}, h('input', {type: 'checkbox', id, checked: this.on.has(t), onchange: (e) => {
        if (e.target.checked) this.on.add(t); else this.on.delete(t);
        this.render();
      }}), ' ', h('label', {for: id}, label)));
    }
    tools.querySelector('#log-filter').addEventListener('input', (e) => { this.filter = e.target.value.toLowerCase(); this.render(); });
    const pause = tools.querySelector('#log-pause');
    pause.addEventListener('click', () => {
      this.paused = !this.paused;
      pause.setAttribute('aria-pressed', this.paused);
      pause.textContent = this.paused ? 'Resume' : 'Pause';
      this.render();
    });
    tools.querySelector('#log-clear').addEventListener('click', () => { this.events = []; this.render(); });
  }

  add(ev) {
    this.total++;
    this.events.push({ev, text: describe(ev), bad: isBad(ev)});
    if (this.events.length > KEEP) this.events.splice(0, this.events.length - KEEP);
    if (!this.paused && !this.pending) {
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.render(); });
    }
  }

  render() {
    if (this.paused && this.list.childElementCount) { this.count.textContent = `(paused; ${this.total} seen)`; return; }
    const rows = [];
    for (let i = this.events.length - 1; i >= 0 && rows.length < SHOW; i--) {
      const {ev, text, bad} = this.events[i];
      const t = TYPES.some((x) => x[0] === ev.type) ? ev.type : 'other';
      if (!this.on.has(t) && !(t === 'lb.health' && bad)) continue;
      if (this.filter && !(ev.type + ' ' + (ev.src || '') + ' ' + text).toLowerCase().includes(this.filter)) continue;
      rows.push(h('li', {class: bad ? 'err' : null, 'data-type': ev.type},
        h('time', {datetime: ev.time}, fmtTime(ev.time)),
        h('span', {class: 'kind'}, `${GLYPHS[ev.type] || '·'} ${ev.type}`), ' ', text));
    }
    this.list.replaceChildren(...rows);
    this.count.textContent = `(${this.total} seen, ${rows.length} shown)`;
  }
}

function isBad(ev) {
  return (ev.type === 'dns.query' && ev.rcode && !['NOERROR', 'NXDOMAIN'].includes(ev.rcode)) ||
    (ev.type === 'dns.upstream' && ['timeout', 'error', 'lame'].includes(ev.outcome)) ||
    (ev.type === 'lb.request' && (ev.error || ev.status >= 500)) ||
    (ev.type === 'lb.health' && !ev.ok) || ev.type === 'dropped' || (ev.type === 'source' && ev.state === 'down');
}

const n = (s) => (s || '').replace(/\.$/, '');

// describe is one line a person reads.
export function describe(ev) {
  switch (ev.type) {
  case 'dns.query':
    return `${n(ev.name)} ${ev.qtype} → ${ev.rcode}${ev.answers ? ' ' + ev.answers.join(' ') : ''}` +
      `${ev.cache ? ' [cache ' + ev.cache + ']' : ''} ${ev.source || ''}${ev.geo ? ' geo ' + ev.geo.pool : ''} · at ${ev.server} from ${ev.client}` +
      `${ev.duration_us !== undefined ? ' · ' + us(ev.duration_us) : ''}`;
  case 'dns.upstream':
    return `#${ev.id} ${ev.server} (zone ${ev.zone}) ${n(ev.name)} ${ev.qtype} → ${ev.outcome}${ev.rcode ? ' ' + ev.rcode : ''}${ev.rtt_us !== undefined ? ' · ' + us(ev.rtt_us) : ''}`;
  case 'dns.cache':
    return `${ev.op} ${n(ev.name)} ${ev.qtype === 'None' ? 'any type (NXDOMAIN)' : ev.qtype || ''}${ev.ttl !== undefined ? ' ttl ' + ev.ttl + ' s' : ''}`;
  case 'lb.request':
    return `${ev.lbd || ev.src} ${ev.method} ${ev.path} → ${ev.backend || '—'} ${ev.status || ''}${ev.error ? ' ' + ev.error : ''}` +
      ` (${ev.reason || ev.policy || ''}${ev.attempts > 1 ? ', ' + ev.attempts + ' tries' : ''}) from ${ev.client}`;
  case 'lb.backend':
    return `${ev.lbd || ev.src} ${ev.pool}/${ev.backend}: ${ev.from} → ${ev.to}${ev.cause ? ' (' + ev.cause + ')' : ''}`;
  case 'lb.health':
    return `${ev.lbd || ev.src} ${ev.pool}/${ev.backend} check ${ev.ok ? 'ok' : 'FAILED'}${ev.detail ? ' ' + ev.detail : ''}`;
  case 'source':
    return `stream from ${ev.src}: ${ev.state}${ev.detail ? ' — ' + ev.detail : ''}`;
  case 'dropped':
    return `${ev.src} dropped ${ev.count} events (the page read too slowly)`;
  case 'sim.part':
    return `${ev.part}: ${ev.state}${ev.version ? ' ' + ev.version : ''}${ev.cause ? ' (' + ev.cause + ')' : ''}`;
  default: {
    const {type, time, ...rest} = ev;
    return JSON.stringify(rest);
  }
  }
}

function us(v) { return v >= 1000 ? (v / 1000).toFixed(1) + ' ms' : v + ' µs'; }
