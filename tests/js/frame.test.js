'use strict';
// A frame holds several messages; each is applied on its own.
const test = require('node:test');
const assert = require('node:assert/strict');
const {loadPage, settle} = require('./harness');

test('a message that fails to apply does not lose the rest of its frame', async () => {
  const page = loadPage({layout: {gone: {children: ''}, out: {children: ''}}, broken: ['gone']});
  await page.connect();
  const call = page.call('out.children');
  await settle();
  const [sent] = page.socket.sentOfType('call');
  await page.socket.receive([
    {type: 'set', n: 1, component: 'gone', props: {children: 'lost'}},
    {type: 'set', n: 2, component: 'out', props: {children: 'streamed'}},
    {type: 'result', n: 3, id: sent.id, status: 200, content_type: 'application/json', body: '{"r":1}'}
  ]);
  await settle();

  assert.equal(call.done, true, 'the result in the same frame answered the call');
  assert.equal(call.response.status, 200);
  assert.equal(call.text, '{"r":1}');
  assert.deepEqual(page.applied, [{component: 'out', props: {children: 'streamed'}}]);
  const failures = page.logs.filter((entry) => entry.level === 'error');
  assert.equal(failures.length, 1, `one error logged: ${JSON.stringify(page.logs)}`);
  assert.match(failures[0].text, /\bset\b/, 'the log names the message type');
  assert.match(String(failures[0].detail), /the renderer lost gone/, 'and the error');
  assert.deepEqual(page.uncaught, [], 'nothing escaped the frame handler');

  await page.clock.tick(1000);
  assert.deepEqual(page.socket.sentOfType('ack'), [{type: 'ack', n: 3}],
    'the failed message counts as handled: resending it would fail again');
});

test('a malformed message is logged and the next ones are applied', async () => {
  const page = loadPage({layout: {out: {children: ''}}});
  await page.connect();
  await page.socket.receive([null, {type: 'set', n: 1, component: 'out', props: {children: 'x'}}]);
  assert.deepEqual(page.applied, [{component: 'out', props: {children: 'x'}}]);
  assert.equal(page.logs.filter((entry) => entry.level === 'error').length, 1);
  assert.deepEqual(page.uncaught, []);
});

test('the frames after a failing one are applied too', async () => {
  const page = loadPage({layout: {gone: {children: ''}, out: {children: ''}}, broken: ['gone']});
  await page.connect();
  await page.socket.receive([{type: 'set', n: 1, component: 'gone', props: {children: 'lost'}}]);
  await page.socket.receive([{type: 'set', n: 2, component: 'out', props: {children: 'next'}}]);
  assert.deepEqual(page.applied, [{component: 'out', props: {children: 'next'}}]);
});
