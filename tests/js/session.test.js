'use strict';
// join, hello and resuming a session across sockets.
const test = require('node:test');
const assert = require('node:assert/strict');
const {loadPage, settle} = require('./harness');

const numbered = (from, to) => {
  const messages = [];
  for (let n = from; n <= to; n++) messages.push({type: 'pong', n});
  return messages;
};

// Drops the socket and moves time on until the client has opened another.
async function dropAndReopen(page, code = 1006) {
  const before = page.sockets.length;
  await page.socket.drop(code);
  for (let waited = 0; waited < RETRY_CEILING_MS && page.sockets.length === before; waited += 50) {
    await page.clock.tick(50);
  }
  assert.equal(page.sockets.length, before + 1, 'the client reopened its socket');
}
const RETRY_CEILING_MS = 10000;

test('the first message on the first socket is a plain join, sent as it opens', async () => {
  const page = loadPage();
  assert.equal(page.sockets.length, 1);
  assert.match(page.socket.url, /^ws:\/\/127\.0\.0\.1:8050\/_dash-ws\/socket\?v=2&page=%2F$/);
  assert.doesNotMatch(page.socket.url, /secret|session/);
  await page.socket.accept();
  assert.deepEqual(page.socket.sent, [{type: 'join'}]);
  assert.equal(page.window.dash_ws.state, 'open');
});

test('after a drop the client joins naming its session, the secret of the last hello and what it saw', async () => {
  const page = loadPage();
  await page.connect('s1', 'k1');
  await page.socket.receive(numbered(1, 3));

  await dropAndReopen(page);
  assert.equal(page.window.dash_ws.state, 'reconnecting');
  await page.socket.accept();
  assert.deepEqual(page.socket.sent[0], {type: 'join', session: 's1', secret: 'k1', seen: 3});
  await page.socket.hello('s1', 'k2', true);
  assert.equal(page.window.dash_ws.state, 'open');
  await page.socket.receive(numbered(2, 5)); // 2 and 3 again: already handled

  await dropAndReopen(page, 1001);
  await page.socket.accept();
  assert.deepEqual(page.socket.sent[0], {type: 'join', session: 's1', secret: 'k2', seen: 5},
    'the secret of the newest hello');
});

test('a resumed session gets the unanswered calls again, with their ids', async () => {
  const page = loadPage({layout: {out: {children: ''}}});
  await page.connect('s1', 'k1');
  const call = page.call('out.children');
  await settle();
  const [sent] = page.socket.sentOfType('call');

  await dropAndReopen(page);
  await page.socket.accept();
  await page.socket.hello('s1', 'k2', true);
  assert.deepEqual(page.socket.sentOfType('call'), [sent]);
  assert.equal(call.done, false);
  await page.socket.receive([{type: 'result', n: 1, id: sent.id, status: 200, content_type: 'application/json', body: '{}'}]);
  assert.equal(call.done, true);
  assert.equal(call.response.status, 200);
});

test('a session the server lost fails the waiting calls with 503 and starts afresh', async () => {
  const page = loadPage({config: {persistent: true}});
  await page.connect('s1', 'k1');
  assert.equal(page.socket.sentOfType('ready').length, 1, 'ready once the layout is rendered');
  await page.socket.receive(numbered(1, 4));
  const call = page.call('out.children');
  await settle();

  await dropAndReopen(page);
  await page.socket.accept();
  await page.socket.hello('s2', 'k9', false);
  assert.equal(call.done, true);
  assert.equal(call.response.status, 503);
  assert.match(call.text, /no longer knew this page's session/);
  assert.equal(page.logged('error', 'callback out.children failed').length, 1);
  const last = page.states.slice(-2).map((entry) => entry.state);
  assert.deepEqual(last, ['closed', 'open'], 'the page showed that its session was lost');
  assert.equal(page.socket.sentOfType('ready').length, 1, 'ready again for the new session');
  assert.deepEqual(page.socket.sentOfType('call'), [], 'the failed call is not sent again');

  await page.socket.receive(numbered(1, 2)); // the new session numbers from 1
  await dropAndReopen(page);
  await page.socket.accept();
  assert.deepEqual(page.socket.sent[0], {type: 'join', session: 's2', secret: 'k9', seen: 2});
});

test('a socket the server closed normally starts a new session when a call needs it', async () => {
  const page = loadPage();
  await page.connect('s1', 'k1');
  await page.socket.drop(1000, 'bye');
  assert.equal(page.window.dash_ws.state, 'closed');
  assert.equal(page.window.dash_ws.reason, 'bye');
  await page.clock.tick(60000);
  assert.equal(page.sockets.length, 1, 'it stays closed');
  page.call();
  await settle();
  assert.equal(page.sockets.length, 2, 'a call reopens it');
  assert.equal(page.window.dash_ws.state, 'connecting');
  await page.socket.accept();
  assert.deepEqual(page.socket.sent.slice(0, 2).map((m) => m.type), ['join', 'call']);
  assert.deepEqual(page.socket.sent[0], {type: 'join'});
});
