// "Stand in a region": ask a name as a client of EU, NA or AS (netsim sends
// the region's network as EDNS Client Subnet) and see the answer and the
// path a fresh resolution takes.
import {api, h} from './api.js';

export class Ask {
  constructor(form, out, cfg, topo) {
    Object.assign(this, {form, out, cfg, topo});
    const group = form.querySelector('#ask-regions');
    for (const r of cfg.regions) {
      group.append(h('button', {type: 'button', 'data-region': r.name, title: `${r.label}: a client in ${r.subnet}`,
        onclick: () => this.ask(r)}, `Ask from ${r.name.toUpperCase()}`));
    }
    form.addEventListener('submit', (e) => { e.preventDefault(); if (cfg.regions[0]) this.ask(cfg.regions[0]); });
  }

  async ask(r) {
    const name = this.form.querySelector('#ask-name').value.trim();
    const type = this.form.querySelector('#ask-type').value;
    this.out.replaceChildren(h('p', {}, `asking ${name} ${type} as a client in ${r.label} (${r.subnet})…`));
    let a;
    try {
      a = (await api('GET', `/ui/ask?region=${encodeURIComponent(r.name)}&name=${encodeURIComponent(name)}&type=${encodeURIComponent(type)}`)).data;
    } catch (e) {
      this.out.replaceChildren(h('p', {class: 'err'}, '✕ ' + e.message));
      return;
    }
    const said = a.addresses.length ? a.addresses.join(', ') : a.records.length ? a.records.map((x) => x.split('\t').slice(4).join(' ')).join(', ') : a.rcode;
    const region = this.regionOf(a.addresses[0]);
    const hops = (a.path && a.path.hops) || [];
    this.out.replaceChildren(
      h('p', {}, `From ${r.label} (${r.subnet}): `, h('span', {class: 'answer', id: 'ask-answer'}, said),
        ` ${a.rcode !== 'NOERROR' ? a.rcode : ''}${a.ttl !== undefined ? ` · TTL ${a.ttl} s` : ''} · ${short(a.rtt)}`,
        region ? h('span', {}, ` → the ${region.label} load balancer`) : null),
      hops.length ? h('ol', {class: 'path', 'aria-label': 'the path of a fresh resolution'},
        hops.filter((x) => x.depth === 0).map((x) => h('li', {}, `${x.server} (${x.zone}): ${x.kind}${x.referral ? ' → ' + x.referral.zone : ''}${x.answer ? ' ' + x.answer.filter((rr) => !/\sRRSIG\s/.test(rr)).map(last).join(' ') : ''} · ${short(x.duration)}`))) : '',
      a.path_error ? h('p', {class: 'hint'}, 'path: ' + a.path_error) : '',
      h('p', {class: 'hint', id: 'ask-explain'}, 'Explained by dnsd: ',
        h('a', {href: `/dns/api/v1/resolutions?name=${encodeURIComponent(name)}&type=${encodeURIComponent(type)}&client=${encodeURIComponent(r.subnet.split('/')[0])}`, target: '_blank'}, 'this resolution, step by step (JSON)'),
        ' · in a terminal: ', h('code', {}, `go run ./cmd/dnsd trace ${name} ${type}`)));
    this.topo.playPath(a.path, `${r.name.toUpperCase()} asks`);
    if (region && region.lb) this.topo.highlight('lb:' + region.lb);
  }

  // regionOf finds the region whose network holds an IPv4 address.
  regionOf(addr) {
    if (!addr) return null;
    return this.cfg.regions.find((r) => inPrefix(addr, r.subnet)) || null;
  }
}

// short rounds a Go duration for reading ("6.856977ms" → "6.86 ms").
function short(d) {
  const m = /^([\d.]+)(ns|µs|us|ms|s)$/.exec(d || '');
  return m ? `${Number(Number(m[1]).toPrecision(3))} ${m[2]}` : d;
}

function last(rr) { const f = rr.split(/\s+/); return f[f.length - 1]; }

function inPrefix(addr, prefix) {
  const [net, bits] = prefix.split('/');
  const n = (s) => s.split('.').reduce((a, b) => (a << 8) + Number(b), 0) >>> 0;
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(addr) || !/^\d+\.\d+\.\d+\.\d+$/.test(net)) return false;
  const mask = bits === '0' ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return ((n(addr) & mask) >>> 0) === ((n(net) & mask) >>> 0);
}
