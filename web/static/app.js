// netsim live: wires the views to netsim's origin and its merged event
// stream (/ui/events).
import {api, token} from './api.js';
import {Topo} from './topo.js';
import {Backends} from './backends.js';
import {Cache} from './cache.js';
import {Ask} from './ask.js';
import {Log} from './log.js';

const $ = (s) => document.querySelector(s);
const STREAM_TYPES = ['dns.query', 'dns.upstream', 'dns.cache', 'lb.request', 'lb.backend', 'lb.health',
  'sim.part', 'world.link', 'dropped', 'source', 'message'];

function say(msg, bad) {
  const s = $('#status');
  s.textContent = msg;
  s.classList.toggle('err', !!bad);
}

function tokenForm() {
  const form = $('#token-form'), input = $('#token');
  const show = () => {
    form.classList.toggle('set', !!token.get());
    input.placeholder = token.get() ? 'set' : 'paste it';
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!input.value.trim()) { say('paste the token first (NETSIM_CONTROL_TOKEN in var/netsim.env)', true); return; }
    token.set(input.value.trim());
    input.value = '';
    show();
    say('token kept for this tab: the buttons can change things now');
  });
  $('#token-forget').addEventListener('click', () => { token.clear(); show(); say('token forgotten'); });
  show();
}

// streams shows each daemon's stream state as a chip: a shape and a word.
function streamChips(cfg) {
  const ul = $('#streams');
  const chips = new Map();
  for (const name of ['dnsd', ...cfg.lbds.map((l) => l.name)]) {
    const li = document.createElement('li');
    li.className = 'chip';
    li.textContent = `${name} …`;
    chips.set(name, li);
  }
  ul.replaceChildren(...chips.values());
  return (ev) => {
    const li = chips.get(ev.src);
    if (!li) return;
    li.className = 'chip ' + ev.state;
    li.textContent = `${ev.src} ${ev.state === 'up' ? '● live' : '✕ no stream'}`;
    li.title = ev.detail || '';
  };
}

async function main() {
  tokenForm();
  let cfg;
  try {
    cfg = (await api('GET', '/ui/config')).data;
  } catch (e) {
    say('cannot load the page config: ' + e.message, true);
    return;
  }
  const topo = new Topo($('#topo'), cfg);
  $('#be-pool').textContent = `pool ${cfg.pool}, on ${cfg.lbds.map((l) => l.name).join(', ')}`;
  const backends = new Backends($('#backends tbody'), cfg, topo, say);
  const cache = new Cache($('#cache tbody'), $('#cache-count'), say);
  new Ask($('#ask-form'), $('#ask-result'), cfg, topo);
  const log = new Log($('#log'), document.querySelector('.log-tools'), $('#log-count'));
  $('#cache-flush').addEventListener('click', () => cache.flush());
  const motion = $('#motion');
  motion.addEventListener('click', () => {
    const p = motion.getAttribute('aria-pressed') !== 'true';
    motion.setAttribute('aria-pressed', p);
    motion.textContent = p ? 'Resume animation' : 'Pause animation';
    topo.setPaused(p);
  });
  api('GET', '/dns/api/v1/zones?limit=100').then((d) => topo.setZones(d.data))
    .catch((e) => say('DNS zones unavailable: ' + e.message, true));

  const chip = streamChips(cfg);
  const es = new EventSource('/ui/events');
  const onEvent = (e) => {
    let ev;
    try { ev = JSON.parse(e.data); } catch { return; }
    if (!ev.type) ev.type = e.type;
    if (ev.type === 'source') chip(ev);
    log.add(ev);
    topo.onEvent(ev);
    backends.onEvent(ev);
    cache.onEvent(ev);
  };
  for (const t of STREAM_TYPES) es.addEventListener(t, onEvent);
  es.onopen = () => document.body.dataset.stream = 'open';
  es.onerror = () => { document.body.dataset.stream = 'retrying'; };
  window.netsim = {topo, log, backends, cache}; // for the browser tests and the curious
}

main();
