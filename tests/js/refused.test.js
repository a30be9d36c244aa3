'use strict';
// A refused page (4001, 4003, 4400) uses HTTP for good.
const test = require('node:test');
const assert = require('node:assert/strict');
const {loadPage, settle} = require('./harness');

for (const code of [4001, 4003, 4400]) {
  test(`a close with ${code} is a refusal: HTTP for good, never another socket`, async () => {
    const page = loadPage();
    await page.connect('s1', 'k1');
    const waiting = page.call();
    await settle();
    await page.socket.drop(code, `refused with ${code}`);

    assert.equal(page.window.dash_ws.state, 'refused');
    assert.equal(page.window.dash_ws.reason, `refused with ${code}`);
    assert.equal(page.logged('error', `(${code} `).length, 1, 'the console says why');
    assert.equal(waiting.done, true);
    assert.equal(waiting.response.status, 503, 'a call waiting on the socket fails visibly');

    const later = page.call();
    await settle();
    assert.equal(later.done, true);
    assert.equal(later.text, '{"over":"http"}');
    await page.clock.tick(120000);
    assert.equal(page.sockets.length, 1, 'no socket after a refusal');
    assert.deepEqual(page.states.slice(-1).map((entry) => entry.state), ['refused']);
    assert.equal(page.statesNamed('degraded').length, 0);
  });
}

test('a refusal before hello, as the server sends it, also ends the retries', async () => {
  const page = loadPage();
  await page.socket.accept();
  await page.socket.drop(4003, 'http://evil.example is not allowed');
  await page.clock.tick(120000);
  assert.equal(page.sockets.length, 1);
  assert.equal(page.window.dash_ws.state, 'refused');
  assert.equal(page.statesNamed('degraded').length, 0);
});
