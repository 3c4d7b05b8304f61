/** The pages' Content-Security-Policy: nothing but our own scripts run, whatever a reply contains. */
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The chat page: a sidebar of conversations, the conversation, and the box to write in. The script fills it. */
export function chatPage(o: { base: string; assistant: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(o.assistant)} · Threadline playground</title>
<link rel="stylesheet" href="${o.base}/assets/app.css">
<script type="module" src="${o.base}/assets/app.js"></script>
</head>
<body data-base="${o.base}" data-assistant="${escapeHtml(o.assistant)}">
<aside id="sidebar">
  <header><strong>Threadline</strong> <span class="muted">playground</span></header>
  <button id="new-conversation" type="button">+ New conversation</button>
  <nav id="conversations" aria-label="Conversations"></nav>
  <label class="me">You are <input id="my-name" maxlength="80" autocomplete="off"></label>
</aside>
<main>
  <header id="conversation-header">
    <h1 id="conversation-title">Conversation</h1>
    <span id="meeting-badge" hidden>📝 Taking notes</span>
    <button id="meeting" type="button" title="Take meeting notes here; every tab with this conversation open is a person in the meeting">Start meeting notes</button>
    <button id="share" type="button" title="Copy a link to this conversation for another tab or person">Copy link</button>
  </header>
  <section id="log" aria-live="polite"></section>
  <form id="composer">
    <div id="attached" class="muted"></div>
    <textarea id="text" rows="2" placeholder="Message ${escapeHtml(o.assistant)} (try help, reset, stop, notes start)" autocomplete="off"></textarea>
    <div class="actions">
      <label class="file-button">📎 Attach<input id="files" type="file" multiple hidden></label>
      <span id="connection" class="muted"></span>
      <button id="stop" type="button" hidden>■ Stop</button>
      <button id="send" type="submit">Send</button>
    </div>
  </form>
</main>
</body>
</html>`;
}

/** The sign-in form PLAYGROUND_TOKEN asks for. */
export function loginPage(o: { base: string; error?: string }): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in · Threadline playground</title>
<link rel="stylesheet" href="${o.base}/assets/login.css"></head>
<body class="login">
<form method="post" action="${o.base}/login">
  <h1>Threadline playground</h1>
  <p>This playground is protected. Enter the <code>PLAYGROUND_TOKEN</code> it was started with.</p>
  ${o.error ? `<p class="error" role="alert">${escapeHtml(o.error)}</p>` : ''}
  <input type="password" name="token" autocomplete="current-password" aria-label="Token" required autofocus>
  <button type="submit">Sign in</button>
</form>
</body>
</html>`;
}

export const LOGIN_CSS = `body.login{font:16px/1.5 system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;background:#f4f4f6;color:#1d1c1d}
form{background:#fff;padding:2rem;border-radius:12px;box-shadow:0 2px 12px #0002;max-width:24rem;display:grid;gap:.75rem}
input,button{font:inherit;padding:.5rem .75rem;border-radius:8px;border:1px solid #bbb}button{background:#4a154b;color:#fff;border:0;cursor:pointer}
.error{color:#b00020}`;
