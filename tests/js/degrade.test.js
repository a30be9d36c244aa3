'use strict';
// "degraded": the socket cannot be opened within 5 s, callbacks use HTTP meanwhile.
const test = require('node:test');
const assert = require('node:assert/strict');
const {loadPage, settle} = require('./harness');

const CONNECT_WAIT_MS = 5000;
const FIRST_RETRY_MAX_MS = 250;

const timeline = (page) => page.states.map((entry) => `${entry.at} ms ${entry.state}`).join(', ');

test('a socket that opens, drops at 1 s and cannot reconnect shows degraded once, 5 s after it retries', async () => {
  const page = loadPage();
  await page.clock.tick(100);
  await page.connect();
  await page.clock.tickTo(1000);
  page.network.down = true;
  await page.socket.drop(1006);
  await page.clock.tickTo(20000);

  const degraded = page.statesNamed('degraded');
  assert.equal(degraded.length, 1, `degraded exactly once; states: ${timeline(page)}`);
  assert.ok(degraded[0].at >= 1000 + CONNECT_WAIT_MS,
    `degraded at ${degraded[0].at} ms, before the reopened socket had 5 s; states: ${timeline(page)}`);
  assert.ok(degraded[0].at <= 1000 + FIRST_RETRY_MAX_MS + CONNECT_WAIT_MS,
    `degraded at ${degraded[0].at} ms, later than 5 s after the first retry; states: ${timeline(page)}`);
  assert.equal(page.logged('warn', 'could not be opened').length, 1);
  assert.deepEqual(page.uncaught, []);
});

test('a socket that never opens shows degraded at 5 s, once, and calls go over HTTP', async () => {
  const page = loadPage({networkDown: true});
  const waiting = page.call();
  await page.clock.tick(CONNECT_WAIT_MS - 1);
  assert.equal(page.statesNamed('degraded').length, 0);
  assert.equal(waiting.done, false, 'a call waits for the socket while it may still open');
  await page.clock.tick(1);
  assert.deepEqual(page.statesNamed('degraded').map((entry) => entry.at), [CONNECT_WAIT_MS]);
  await settle();
  assert.equal(waiting.done, true);
  assert.equal(waiting.text, '{"over":"http"}', 'the waiting call went over HTTP');

  const later = page.call();
  await settle();
  assert.equal(later.done, true);
  assert.equal(page.http.length, 2, 'calls go over HTTP while degraded');
  await page.clock.tick(60000);
  assert.equal(page.statesNamed('degraded').length, 1, `states: ${timeline(page)}`);
  assert.ok(page.sockets.length > 5, 'the client keeps trying');
});

test('once the socket opens after degrading, calls use it again', async () => {
  const page = loadPage({networkDown: true});
  await page.clock.tick(CONNECT_WAIT_MS + 100);
  assert.equal(page.window.dash_ws.state, 'degraded');
  page.network.down = false;
  const before = page.sockets.length;
  await page.clock.tick(10000);
  assert.ok(page.sockets.length > before, 'the client tried again');
  await page.connect();
  assert.equal(page.window.dash_ws.state, 'open');
  const call = page.call();
  await settle();
  assert.equal(page.socket.sentOfType('call').length, 1);
  assert.equal(call.done, false);
  assert.equal(page.http.length, 0);
});

test('a socket that opens in time never shows degraded', async () => {
  const page = loadPage();
  await page.clock.tick(CONNECT_WAIT_MS - 100);
  await page.connect();
  await page.clock.tick(60000);
  assert.equal(page.statesNamed('degraded').length, 0, `states: ${timeline(page)}`);
});
