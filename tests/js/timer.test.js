'use strict';
// The client's Timer: every deadline of the client is one.
const test = require('node:test');
const assert = require('node:assert/strict');
const {loadPage} = require('./harness');

function timerOnAPage() {
  const parts = {};
  const page = loadPage({exports: parts});
  assert.equal(typeof parts.Timer, 'function', 'the client hands its Timer to tests');
  return {page, Timer: parts.Timer};
}

test('schedule calls back after delayFor(tries), tries counting since the last reset', async () => {
  const {page, Timer} = timerOnAPage();
  const calls = [];
  const asked = [];
  const timer = new Timer(() => calls.push(page.clock.now), (tries) => {
    asked.push(tries);
    return tries * 100;
  });
  const start = page.clock.now;
  assert.equal(timer.isPending(), false);
  timer.schedule();
  assert.equal(timer.isPending(), true);
  await page.clock.tick(99);
  assert.deepEqual(calls, []);
  await page.clock.tick(1);
  assert.deepEqual(calls, [start + 100]);
  assert.equal(timer.isPending(), false);
  timer.schedule();
  await page.clock.tick(200);
  timer.schedule();
  await page.clock.tick(300);
  assert.deepEqual(asked, [1, 2, 3]);
  assert.equal(timer.tries, 3);
  assert.equal(calls.length, 3);

  timer.reset();
  assert.equal(timer.tries, 0);
  timer.schedule();
  assert.deepEqual(asked, [1, 2, 3, 1]);
});

test('schedule replaces a pending deadline; clear cancels it and keeps the count', async () => {
  const {page, Timer} = timerOnAPage();
  let fired = 0;
  const timer = new Timer(() => fired++, () => 100);
  timer.schedule();
  await page.clock.tick(50);
  timer.schedule();
  await page.clock.tick(60);
  assert.equal(fired, 0, 'the first deadline was replaced');
  await page.clock.tick(40);
  assert.equal(fired, 1, 'one call back, 100 ms after the second schedule');

  timer.schedule();
  timer.clear();
  assert.equal(timer.isPending(), false);
  await page.clock.tick(1000);
  assert.equal(fired, 1);
  assert.equal(timer.tries, 3);

  timer.schedule();
  timer.reset();
  await page.clock.tick(1000);
  assert.equal(fired, 1, 'reset cancels too');
  assert.equal(timer.tries, 0);
});

test('a timer may schedule itself again from its callback', async () => {
  const {page, Timer} = timerOnAPage();
  const at = [];
  const timer = new Timer(() => {
    at.push(page.clock.now);
    if (at.length < 3) timer.schedule();
  }, () => 10);
  const start = page.clock.now;
  timer.schedule();
  await page.clock.tick(100);
  assert.deepEqual(at, [start + 10, start + 20, start + 30]);
});
