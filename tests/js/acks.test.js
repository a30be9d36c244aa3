'use strict';
// Acknowledgements: sent after a delay, at most every 500 ms.
const test = require('node:test');
const assert = require('node:assert/strict');
const {loadPage} = require('./harness');

const ACK_DELAY_MS = 500;
const pong = (n) => ({type: 'pong', n});

test('an ack follows the messages after 500 ms, naming the last one', async () => {
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

test('a steady stream is acknowledged every 500 ms, not after every message', async () => {
  const page = loadPage();
  await page.connect();
  for (let n = 1; n <= 20; n++) {
    await page.socket.receive([pong(n)]);
    await page.clock.tick(100);
  }
  const acks = page.socket.sentOfType('ack').map((ack) => ack.n);
  assert.deepEqual(acks, [5, 10, 15, 20]);
});

test('messages without a number are not acknowledged', async () => {
  const page = loadPage();
  await page.connect();
  await page.socket.receive([{type: 'pong'}]);
  await page.clock.tick(2000);
  assert.deepEqual(page.socket.sentOfType('ack'), []);
});
