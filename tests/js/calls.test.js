'use strict';
// The renderer's callback requests, over the socket.
const test = require('node:test');
const assert = require('node:assert/strict');
const {loadPage, settle} = require('./harness');

const LIMIT = 4096;

test('a call goes over the socket as a call message and is answered like HTTP', async () => {
  const page = loadPage({config: {max_message_bytes: LIMIT}});
  await page.connect();
  const call = page.call('out.children');
  await settle();
  const [sent] = page.socket.sentOfType('call');
  assert.equal(sent.id, 1);
  assert.equal(sent.output, 'out.children');
  assert.equal(JSON.parse(sent.body).output, 'out.children');
  assert.equal(sent.query, '');
  assert.equal(sent.headers['X-CSRFToken'], 't');
  await page.socket.receive([{type: 'result', n: 1, id: 1, status: 200, content_type: 'application/json', body: '{"a":1}'}]);
  assert.equal(call.response.status, 200);
  assert.equal(call.response.headers.get('Content-Type'), 'application/json');
  assert.equal(call.text, '{"a":1}');

  const prevented = page.call('out.children');
  await settle();
  await page.socket.receive([{type: 'result', n: 2, id: 2, status: 204, content_type: 'application/json', body: ''}]);
  assert.equal(prevented.response.status, 204);
  assert.equal(page.http.length, 0);
});

test('a call past max_message_bytes is answered 413 at once and never sent', async () => {
  const page = loadPage({config: {max_message_bytes: LIMIT}});
  await page.connect();
  const call = page.call('out.children', 'x'.repeat(LIMIT));
  await settle();
  assert.equal(call.done, true);
  assert.equal(call.response.status, 413);
  assert.match(call.text, /websocket_max_message_bytes/);
  assert.deepEqual(page.socket.sent.map((message) => message.type), ['join'], 'nothing sent');
  assert.equal(page.http.length, 0, 'nor over HTTP');
  assert.equal(page.logged('error', 'out.children').length, 1);
});

test('the limit counts UTF-8 bytes, not characters', async () => {
  const page = loadPage({config: {max_message_bytes: LIMIT}});
  await page.connect();
  const call = page.call('out.children', 'é'.repeat(LIMIT / 2));
  await settle();
  assert.equal(call.response.status, 413);
  const small = page.call('out.children', 'é'.repeat(LIMIT / 4));
  await settle();
  assert.equal(small.done, false);
  assert.equal(page.socket.sentOfType('call').length, 1);
});

test('requests that are not callback updates go over HTTP', async () => {
  const page = loadPage();
  await page.connect();
  await page.window.fetch('/_dash-layout', {method: 'GET'});
  await page.window.fetch('/_dash-update-component?cacheKey=1', {
    method: 'POST', body: JSON.stringify({output: 'a.b'})
  });
  assert.equal(page.http.length, 2);
  assert.deepEqual(page.socket.sentOfType('call'), []);
});

test('a call made while the socket opens waits for it', async () => {
  const page = loadPage();
  const call = page.call();
  await page.clock.tick(1000);
  assert.equal(call.done, false);
  await page.socket.accept();
  assert.deepEqual(page.socket.sent.map((message) => message.type), ['join', 'call']);
});

test('a get is answered with the prop, or found: false', async () => {
  const page = loadPage({layout: {name: {value: 'Ada'}}});
  await page.connect();
  await page.socket.receive([
    {type: 'get', n: 1, id: 7, component: 'name', prop: 'value'},
    {type: 'get', n: 2, id: 8, component: 'missing', prop: 'value'}
  ]);
  assert.deepEqual(page.socket.sentOfType('prop'), [
    {type: 'prop', id: 7, found: true, value: 'Ada'},
    {type: 'prop', id: 8, found: false, value: null}
  ]);
});

test('the limit is on the request body, as for HTTP: escaping in the message does not count', async () => {
  const page = loadPage({config: {max_message_bytes: LIMIT}});
  await page.connect();
  const quotes = '"'.repeat(LIMIT / 2 - 200); // each is 2 bytes in the body, 4 in the message
  const call = page.call('out.children', quotes);
  await settle();
  assert.equal(call.done, false);
  const [sent] = page.socket.sentOfType('call');
  assert.ok(new TextEncoder().encode(sent.body).length <= LIMIT);
  assert.ok(new TextEncoder().encode(JSON.stringify(sent)).length > LIMIT);
});

test('a long call leaves in parts that join back into the call, a surrogate pair never cut', async () => {
  const LARGE = 64 * 1024 * 1024;
  const page = loadPage({config: {max_message_bytes: LARGE}});
  await page.connect();
  const value = 'x'.repeat(256 * 1024 - 40) + '\u{1F600}'.repeat(200 * 1024);
  const call = page.call('out.children', value);
  await settle();
  assert.equal(call.done, false);
  const parts = page.socket.sentOfType('part');
  assert.ok(parts.length >= 3, `${parts.length} parts`);
  assert.deepEqual(parts.map((part) => part.more), [...parts.slice(1).map(() => true), false]);
  for (const part of parts) {
    assert.ok(part.data.length <= 256 * 1024);
    const end = part.data.charCodeAt(part.data.length - 1);
    assert.ok(!(end >= 0xd800 && end <= 0xdbff), 'no part ends inside a surrogate pair');
  }
  const joined = JSON.parse(parts.map((part) => part.data).join(''));
  assert.equal(joined.type, 'call');
  assert.ok(JSON.stringify(JSON.parse(joined.body)).includes(value), 'the value arrives whole');
  assert.equal(page.socket.sentOfType('call').length, 0, 'only parts on the wire');
});

test('a get with a path is answered with the part of the prop there, or null', async () => {
  const figure = {data: [{y: [1, 2]}, {y: [3, 4]}], layout: {title: {text: 'Sales'}}};
  const page = loadPage({layout: {graph: {figure: figure}}});
  await page.connect();
  await page.socket.receive([
    {type: 'get', n: 1, id: 1, component: 'graph', prop: 'figure', path: ['layout', 'title', 'text']},
    {type: 'get', n: 2, id: 2, component: 'graph', prop: 'figure', path: ['data', -1, 'y', 0]},
    {type: 'get', n: 3, id: 3, component: 'graph', prop: 'figure', path: ['data', 9, 'y']},
    {type: 'get', n: 4, id: 4, component: 'graph', prop: 'figure', path: ['layout', 0]},
    {type: 'get', n: 5, id: 5, component: 'graph', prop: 'figure', path: ['toString']}
  ]);
  assert.deepEqual(page.socket.sentOfType('prop').map((reply) => reply.value),
    ['Sales', 3, null, null, null]);
});
