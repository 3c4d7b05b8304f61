// The playground page: plain ES modules, no build step. Replies are Markdown rendered by marked,
// with raw HTML shown as text and the result cleaned by DOMPurify; the page's CSP allows no inline script.
import { marked } from './marked.js';
import DOMPurify from './purify.js';

const base = document.body.dataset.base;
const room = new URLSearchParams(location.search).get('room') || 'main';
const $ = (id) => document.getElementById(id);
const randomId = () => crypto.randomUUID().replace(/-/g, '').slice(0, 16);

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
marked.use({ gfm: true, breaks: true, renderer: { html: (token) => escapeHtml(token.raw ?? token.text ?? '') } });
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});
const markdown = (text) => DOMPurify.sanitize(marked.parse(text ?? ''));

// who this tab is: one person per tab, so several tabs can be several people in one meeting
const me = { id: sessionStorage.getItem('threadline.user') || randomId() };
sessionStorage.setItem('threadline.user', me.id);
me.name = sessionStorage.getItem('threadline.name') || `Guest ${me.id.slice(0, 4)}`;
$('my-name').value = me.name;
$('my-name').addEventListener('change', () => {
  me.name = $('my-name').value.trim() || me.name;
  sessionStorage.setItem('threadline.name', me.name);
});

// the sidebar: conversations this browser has opened, newest first
const stored = () => JSON.parse(localStorage.getItem(`threadline.conversations.${room}`) || '[]');
const store = (list) => localStorage.setItem(`threadline.conversations.${room}`, JSON.stringify(list.slice(0, 50)));
function remember(id, title) {
  const list = stored().filter((c) => c.id !== id);
  const old = stored().find((c) => c.id === id);
  list.unshift({ id, title: title || old?.title || 'New conversation' });
  store(list);
  drawSidebar();
}
function drawSidebar() {
  const nav = $('conversations');
  nav.replaceChildren(
    ...stored().map((c) => {
      const a = document.createElement('a');
      a.href = `#c=${c.id}`;
      a.textContent = c.title;
      if (c.id === current) a.setAttribute('aria-current', 'page');
      return a;
    }),
  );
}

let current;
let events;
const replies = new Map();
let streaming = new Set();

function open(id) {
  current = id;
  if (location.hash !== `#c=${id}`) history.replaceState(null, '', `${location.pathname}${location.search}#c=${id}`);
  $('log').replaceChildren();
  replies.clear();
  seen.clear();
  streaming = new Set();
  updateStop();
  $('conversation-title').textContent = stored().find((c) => c.id === id)?.title || 'New conversation';
  remember(id);
  events?.close();
  events = new EventSource(`${base}/api/events?room=${room}&conversation=${id}`);
  events.onopen = () => ($('connection').textContent = '');
  events.onerror = () => ($('connection').textContent = 'reconnecting…');
  events.onmessage = (m) => show(JSON.parse(m.data));
  refreshMeeting();
}

function line(cls) {
  const div = document.createElement('div');
  div.className = cls;
  $('log').append(div);
  return div;
}

function reply(id) {
  let r = replies.get(id);
  if (!r) {
    const el = line('reply');
    el.dataset.reply = id;
    // in the order they happen: status, code steps, the answer, then what it carries
    el.innerHTML = '<div class="who">Assistant</div><div class="status muted"></div><div class="steps"></div><div class="body"></div><div class="extras"></div>';
    r = { el, body: el.querySelector('.body'), status: el.querySelector('.status'), steps: el.querySelector('.steps'), extras: el.querySelector('.extras') };
    replies.set(id, r);
  }
  return r;
}

const seen = new Set();
function show(e) {
  // after a reconnect the server sends the transcript again: show each event once
  if (seen.has(e.uid)) return;
  seen.add(e.uid);
  const atEnd = $('log').scrollTop + $('log').clientHeight >= $('log').scrollHeight - 40;
  switch (e.type) {
    case 'message': {
      const el = line(`message${e.author.id === me.id ? ' mine' : ''}${e.notes ? ' notes' : ''}`);
      const who = document.createElement('div');
      who.className = 'who';
      who.textContent = `${e.author.name}${e.notes ? ' · 📝 note' : ''}`;
      const body = document.createElement('div');
      body.className = 'body';
      body.textContent = e.text;
      el.append(who, body);
      for (const f of e.files) {
        const tag = document.createElement('div');
        tag.className = 'file muted';
        tag.textContent = `📎 ${f}`;
        el.append(tag);
      }
      if (e.author.id === me.id && !stored().find((c) => c.id === current && c.title !== 'New conversation')) {
        const title = e.text.trim().slice(0, 40) || 'Files';
        remember(current, title);
        $('conversation-title').textContent = title;
      }
      break;
    }
    case 'status': {
      const r = reply(e.reply);
      r.status.textContent = e.status;
      streaming.add(e.reply);
      break;
    }
    case 'text': {
      const r = reply(e.reply);
      r.body.innerHTML = markdown(e.text);
      r.el.classList.add('streaming');
      streaming.add(e.reply);
      break;
    }
    case 'code': {
      const r = reply(e.reply);
      const box = document.createElement('details');
      box.className = 'code';
      box.open = true;
      const summary = document.createElement('summary');
      summary.textContent = 'Code run';
      const code = document.createElement('pre');
      code.textContent = e.input;
      box.append(summary, code);
      if (e.output) {
        const out = document.createElement('pre');
        out.className = 'output';
        out.textContent = e.output;
        box.append(out);
      }
      r.steps.append(box);
      break;
    }
    case 'finish': {
      const r = reply(e.reply);
      r.status.textContent = '';
      r.body.innerHTML = markdown(e.text);
      r.el.classList.remove('streaming');
      for (const img of e.images) {
        // images inline; other files the answer carries (a CSV from the code interpreter) as downloads
        if (!/^image\/(png|jpeg|gif|webp)$/.test(img.contentType)) {
          const a = document.createElement('a');
          a.className = 'attachment';
          a.href = img.url;
          a.download = img.name;
          a.textContent = `⬇ ${img.name}`;
          r.extras.append(a);
          continue;
        }
        const fig = document.createElement('figure');
        const i = document.createElement('img');
        i.src = img.url;
        i.alt = img.alt;
        const cap = document.createElement('figcaption');
        cap.textContent = img.alt;
        fig.append(i, cap);
        r.extras.append(fig);
      }
      streaming.delete(e.reply);
      break;
    }
    case 'fail': {
      const r = reply(e.reply);
      r.status.textContent = '';
      r.el.classList.remove('streaming');
      r.el.classList.add('failed');
      const p = document.createElement('p');
      p.className = 'warning';
      p.textContent = `⚠ ${e.text}`;
      r.extras.append(p);
      streaming.delete(e.reply);
      break;
    }
    case 'notice': {
      const el = line('notice');
      el.innerHTML = markdown(e.text);
      refreshMeeting();
      break;
    }
    case 'minutes': {
      const el = line('minutes');
      el.innerHTML = markdown(e.text);
      const a = document.createElement('a');
      a.href = e.file.url;
      a.download = e.file.name;
      a.textContent = `⬇ ${e.file.name}`;
      el.append(a);
      refreshMeeting();
      break;
    }
  }
  updateStop();
  if (atEnd) $('log').scrollTop = $('log').scrollHeight;
}

function updateStop() {
  $('stop').hidden = streaming.size === 0;
}

let meeting = false;
async function refreshMeeting() {
  const res = await fetch(`${base}/api/conversation?room=${room}&conversation=${current}`);
  if (!res.ok) return;
  meeting = (await res.json()).meeting;
  $('meeting').textContent = meeting ? 'Stop notes & write minutes' : 'Start meeting notes';
  $('meeting-badge').hidden = !meeting;
  $('text').placeholder = meeting ? 'A line for the notes (start with @assistant to ask the assistant)' : `Message ${document.body.dataset.assistant} (try help, reset, stop, notes start)`;
}

async function send(text, files = []) {
  const form = new FormData();
  form.set('room', room);
  form.set('conversation', current);
  form.set('user', me.id);
  form.set('name', me.name);
  form.set('id', randomId());
  form.set('text', text);
  for (const f of files) form.append('files', f);
  const res = await fetch(`${base}/api/messages`, { method: 'POST', body: form });
  if (!res.ok) {
    const err = await res.json().catch(() => ({ error: `The server answered ${res.status}.` }));
    line('notice error').textContent = `⚠ ${err.error}`;
  }
}

$('composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value;
  const files = [...$('files').files];
  if (!text.trim() && !files.length) return;
  $('text').value = '';
  $('files').value = '';
  $('attached').textContent = '';
  void send(text, files);
});
$('text').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey) {
    ev.preventDefault();
    $('composer').requestSubmit();
  }
});
$('files').addEventListener('change', () => ($('attached').textContent = [...$('files').files].map((f) => `📎 ${f.name}`).join('  ')));
$('stop').addEventListener('click', () => void send('stop'));
$('meeting').addEventListener('click', () => void send(meeting ? 'notes stop' : 'notes start'));
$('new-conversation').addEventListener('click', () => open(randomId()));
$('share').addEventListener('click', () => void navigator.clipboard?.writeText(location.href));
window.addEventListener('hashchange', () => {
  const id = location.hash.match(/^#c=([\w-]{1,64})$/)?.[1];
  if (id && id !== current) open(id);
});

open(location.hash.match(/^#c=([\w-]{1,64})$/)?.[1] || stored()[0]?.id || randomId());
