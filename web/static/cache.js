// The resolver cache: entries with their TTLs counting down, flush all or
// one name.
import {api, poll, h} from './api.js';

export class Cache {
  constructor(tbody, count, say) {
    this.tbody = tbody;
    this.count = count;
    this.say = say;
    this.rows = [];
    this.poller = poll(() => this.refresh(), 2000);
    setInterval(() => this.tickTTL(), 250);
  }

  onEvent(ev) {
    if (ev.type === 'dns.cache' || (ev.type === 'dns.query' && ev.cache === 'miss')) this.poller.kick();
  }

  async refresh() {
    let doc;
    try {
      doc = await api('GET', '/dns/api/v1/cache?limit=100');
    } catch (e) {
      this.count.textContent = '(' + e.message + ')';
      throw e;
    }
    const now = performance.now();
    const list = doc.data.sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
    this.count.textContent = `${list.length} entr${list.length === 1 ? 'y' : 'ies'}`;
    this.rows = list.map((e) => {
      const ttl = h('span', {class: 'ttl'}, h('b'), h('span', {class: 'bar', 'aria-hidden': 'true'}, h('i')));
      const tr = h('tr', {'data-name': e.name, 'data-type': e.type},
        h('td', {}, e.name.replace(/\.$/, '') || '.', e.kind === 'delegation' ? h('small', {}, ' (delegation)') : null, e.scope ? h('small', {}, ' ' + e.scope) : null),
        h('td', {}, typeName(e.type)),
        h('td', {}, ttl),
        e.negative ? h('td', {class: 'rr neg', title: e.records.join('\n')}, h('b', {}, e.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : 'no data'), ' ' + rdata(e.records))
          : h('td', {class: 'rr', title: e.records.join('\n')}, rdata(e.records)),
        h('td', {}, h('button', {type: 'button', 'aria-label': `flush ${e.name} ${e.type}`, onclick: () => this.flush(e.name, e.type)}, 'flush')));
      return {tr, ttl, e, until: now + e.remaining_ttl * 1000};
    });
    this.tbody.replaceChildren(...this.rows.map((r) => r.tr));
    this.tickTTL();
  }

  tickTTL() {
    const now = performance.now();
    for (const r of this.rows) {
      const left = Math.max(0, Math.ceil((r.until - now) / 1000));
      const stale = r.e.stale || left === 0;
      r.ttl.className = 'ttl' + (stale ? ' stale' : '');
      r.ttl.firstChild.textContent = stale ? '◌ expired' : fmtTTL(left);
      r.ttl.querySelector('i').style.width = (r.e.ttl > 0 ? Math.min(100, (left / r.e.ttl) * 100) : 0) + '%';
    }
  }

  async flush(name, type) {
    try {
      if (name) await api('DELETE', `/dns/api/v1/cache/${encodeURIComponent(name)}${type ? '?type=' + encodeURIComponent(type) : ''}`);
      else await api('DELETE', '/dns/api/v1/cache');
      this.say(name ? `flushed ${name} ${type || ''} from the resolver cache` : 'flushed the resolver cache');
    } catch (e) {
      this.say('flush failed: ' + e.message, true);
    }
    this.poller.kick();
  }
}

// typeName is the record type of an entry; a name-wide NXDOMAIN (RFC 8020:
// no type exists there) is cached with type 0, which the API calls None.
function typeName(t) {
  return t === 'None' ? 'any' : t;
}

// rdata is the data of the first records ("127.0.10.1, 127.0.20.1 +1").
function rdata(records) {
  const d = records.filter((r) => !/\tRRSIG\t|\tOPT\t/.test(r)).map((r) => r.split('\t').slice(4).join(' '));
  return d.slice(0, 2).join(', ') + (d.length > 2 ? ` +${d.length - 2}` : '');
}

// fmtTTL is "17 s", or "23:59:58" for long ones (still ticking visibly).
function fmtTTL(s) {
  if (s < 100) return `${s} s`;
  const p = (n) => String(n).padStart(2, '0');
  return `${Math.floor(s / 3600)}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`;
}
