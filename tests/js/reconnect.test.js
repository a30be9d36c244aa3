'use strict';
// Reopening after a drop, with backoff and jitter; the heartbeat.
const test = require('node:test');
const assert = require('node:assert/strict');
const {loadPage} = require('./harness');

const FAIL_AFTER_MS = 10; // the harness's sockets fail this long after they are made

function gaps(sockets) {
  const gaps = [];
  for (let i = 1; i < sockets.length; i++) gaps.push(sockets[i].createdAt - sockets[i - 1].createdAt);
  return gaps;
}

test('retries back off exponentially to 10 s, and start over once a socket opens', async () => {
  const page = loadPage({random: 1});
  await page.connect();
  page.network.down = true;
  await page.socket.drop(1006);
  await page.clock.tick(60000);
  const waits = gaps(page.sockets.slice(1)).map((gap) => gap - FAIL_AFTER_MS);
  assert.deepEqual(waits.slice(0, 8), [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  assert.equal(page.sockets[1].createdAt, 250, 'the first retry after 250 ms');

  page.network.down = false;
  const before = page.sockets.length;
  await page.clock.tick(10000);
  assert.equal(page.sockets.length, before + 1);
  await page.connect('s1', 'k2', true);
  const droppedAt = page.clock.now;
  await page.socket.drop(1006);
  await page.clock.tick(1000);
  assert.equal(page.socket.createdAt - droppedAt, 250, 'the backoff started over');
});

test('jitter takes each wait down to half', async () => {
  const page = loadPage({random: 0});
  await page.connect();
  page.network.down = true;
  await page.socket.drop(1006);
  await page.clock.tick(30000);
  assert.equal(page.sockets[1].createdAt, 125);
  const waits = gaps(page.sockets.slice(1)).map((gap) => gap - FAIL_AFTER_MS);
  assert.deepEqual(waits.slice(0, 4), [250, 500, 1000, 2000]);
});

test('the page pings every heartbeat interval while the server answers', async () => {
  const page = loadPage({config: {heartbeat_ms: 1000}});
  await page.connect();
  await page.clock.tick(10000);
  assert.equal(page.socket.sentOfType('ping').length, 10);
  assert.equal(page.socket.closedByPage, null);
  assert.equal(page.sockets.length, 1);
});

test('a server silent for two intervals is closed with 4000 and the page resumes', async () => {
  const page = loadPage({config: {heartbeat_ms: 1000}});
  page.network.pong = false;
  await page.connect('s1', 'k1');
  await page.clock.tick(2999);
  assert.equal(page.socket.closedByPage, null);
  await page.clock.tick(1);
  assert.deepEqual(page.sockets[0].closedByPage, {code: 4000, reason: 'heartbeat timeout'});
  assert.equal(page.window.dash_ws.state, 'reconnecting');
  assert.equal(page.window.dash_ws.reason, 'heartbeat timeout');
  assert.equal(page.logged('warn', 'no answer from the server').length, 1);
  await page.clock.tick(250);
  assert.equal(page.sockets.length, 2);
  await page.socket.accept();
  assert.deepEqual(page.socket.sent[0], {type: 'join', session: 's1', secret: 'k1', seen: 0});
  await page.sockets[0].drop(4000, 'heartbeat timeout'); // the browser's close event, late
  assert.equal(page.sockets.length, 2, 'the old socket\'s close changes nothing');
  assert.equal(page.window.dash_ws.state, 'open');
});

for (const code of [1001, 1005, 1006, 1011, 1012, 1013, 1014, 4000, 4008]) {
  test(`a close with ${code} reconnects`, async () => {
    const page = loadPage();
    await page.connect();
    await page.socket.drop(code);
    assert.equal(page.window.dash_ws.state, 'reconnecting');
    assert.equal(page.window.dash_ws.reason, `connection lost (${code})`);
    await page.clock.tick(250);
    assert.equal(page.sockets.length, 2);
  });
}

for (const code of [1000, 4002, 3000, 4100]) {
  test(`a close with ${code} stays closed until a call needs the socket`, async () => {
    const page = loadPage();
    await page.connect();
    await page.socket.drop(code);
    assert.equal(page.window.dash_ws.state, 'closed');
    assert.equal(page.window.dash_ws.reason, `closed (${code})`);
    await page.clock.tick(60000);
    assert.equal(page.sockets.length, 1);
    assert.equal(page.statesNamed('degraded').length, 0);
  });
}
