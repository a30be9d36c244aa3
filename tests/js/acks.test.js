'use strict';
// Acknowledgements: sent a second after the first message they cover, or at once when
// the frames they cover reach 256 KiB.
const test = require('node:test');
const assert = require('node:assert/strict');
const {loadPage} = require('./harness');

const ACK_DELAY_MS = 1000;
const ACK_CHARS = 256 * 1024;
const pong = (n) => ({type: 'pong', n});

test('an ack follows the messages after a second, naming the last one', async () => {
  const page = loadPage();
  await page.connect();
  await page.socket.receive([pong(1), pong(2)]);
  await page.clock.tick(100);
  await page.socket.receive([pong(3)]);
  await page.clock.tick(ACK_DELAY_MS - 101);
  assert.deepEqual(page.socket.sentOfType('ack'), [], 'not before the delay');
  await page.clock.tick(1);
  assert.deepEqual(page.socket.sentOfType('ack'), [{type: 'ack', n: 3}]);
  await page.clock.tick(10000);
  assert.equal(page.socket.sentOfType('ack').length, 1, 'nothing new, no ack');
});

test('a steady stream is acknowledged every second, not after every message', async () => {
  const page = loadPage();
  await page.connect();
  for (let n = 1; n <= 40; n++) {
    await page.socket.receive([pong(n)]);
    await page.clock.tick(100);
  }
  const acks = page.socket.sentOfType('ack').map((ack) => ack.n);
  assert.deepEqual(acks, [10, 20, 30, 40]);
});

test('frames that reach 256 KiB are acknowledged at once, and the delay starts again', async () => {
  const page = loadPage();
  await page.connect();
  const large = (n) => ({type: 'pong', n, padding: 'x'.repeat(ACK_CHARS / 4)});
  for (let n = 1; n <= 3; n++) await page.socket.receive([large(n)]);
  assert.deepEqual(page.socket.sentOfType('ack'), [], 'three quarters: not yet');
  await page.socket.receive([large(4)]);
  assert.deepEqual(page.socket.sentOfType('ack'), [{type: 'ack', n: 4}]);
  await page.socket.receive([pong(5)]);
  await page.clock.tick(ACK_DELAY_MS - 1);
  assert.equal(page.socket.sentOfType('ack').length, 1, 'the early ack reset the delay');
  await page.clock.tick(1);
  assert.deepEqual(page.socket.sentOfType('ack').map((ack) => ack.n), [4, 5]);
});

test('messages without a number are not acknowledged', async () => {
  const page = loadPage();
  await page.connect();
  await page.socket.receive([{type: 'pong'}]);
  await page.clock.tick(2000);
  assert.deepEqual(page.socket.sentOfType('ack'), []);
});
