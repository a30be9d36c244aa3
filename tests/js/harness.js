'use strict';
/*
 * A page for dash_ws.js under Node, without a browser: a fake clock (setTimeout,
 * setInterval, Date.now), fake WebSockets driven by the test as the server,
 * and fake window, document, location, fetch, renderer store, dash_component_api
 * and dash_clientside. The client runs in its own vm context, whose globals are
 * these fakes; DASH_WS_CLIENT names another client file to run instead (to
 * check that a test fails on an older client).
 */
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const CLIENT = process.env.DASH_WS_CLIENT ||
  path.join(__dirname, '..', '..', 'src', 'dash_ws', 'static', 'dash_ws.js');

// Lets promise callbacks, the client's included, run to completion.
function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

// A copy made in this realm: objects from the client's context have another
// Object.prototype, which assert.deepStrictEqual would hold against them.
function plain(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

class FakeClock {
  constructor(onError) {
    this.now = 0;
    this.timers = new Map();
    this.nextId = 1;
    this.onError = onError || ((error) => { throw error; });
  }

  setTimeout(callback, ms) {
    const id = this.nextId++;
    this.timers.set(id, {id, at: this.now + Math.max(0, Number(ms) || 0), callback, every: 0});
    return id;
  }

  setInterval(callback, ms) {
    const id = this.setTimeout(callback, ms);
    this.timers.get(id).every = Math.max(1, Number(ms) || 0);
    return id;
  }

  clearTimeout(id) {
    this.timers.delete(id);
  }

  // The timer due first (by time, then by the order it was made), if due by `end`.
  due(end) {
    let first = null;
    for (const timer of this.timers.values()) {
      if (timer.at > end) continue;
      if (!first || timer.at < first.at || (timer.at === first.at && timer.id < first.id)) first = timer;
    }
    return first;
  }

  // Moves time on by `ms`, running every timer that falls due, in order, and
  // the promise callbacks each one starts before the next.
  async tick(ms) {
    const end = this.now + ms;
    for (;;) {
      const timer = this.due(end);
      if (!timer) break;
      this.now = timer.at;
      if (timer.every) timer.at += timer.every;
      else this.timers.delete(timer.id);
      try {
        timer.callback();
      } catch (error) {
        this.onError(error);
      }
      await settle();
    }
    this.now = end;
    await settle();
  }

  // Moves to the absolute time `at` (ms since the page loaded).
  async tickTo(at) {
    await this.tick(at - this.now);
  }
}

const DEFAULT_CONFIG = {
  enabled: true,
  url: '/_dash-ws/socket',
  all_callbacks: true,
  outputs: [],
  persistent: false,
  update_path: '/_dash-update-component',
  heartbeat_ms: 15000,
  max_message_bytes: 4096,
  status_ids: []
};

/*
 * Loads the client into a new page and returns the page:
 *   page.clock      the fake clock; `await page.clock.tick(ms)`
 *   page.sockets    every socket the client made, oldest first; page.socket the last
 *   page.states     [{state, reason, at}] from the client's dash-ws:state events
 *   page.logs       [{level, text, detail}] from the client's console
 *   page.http       [{url, body}] requests that reached the network as HTTP
 *   page.applied    [{component, props}] given to dash_clientside.set_props
 *   page.uncaught   errors the client let escape from an event handler or timer
 *   page.call(...)  a callback request as the renderer makes it
 * Options: config (merged into the defaults), layout ({id: props}),
 * broken (ids whose set_props throws), hydrated (default true), random
 * (Math.random's value, default 1), networkDown (sockets fail from the start),
 * exports (an object the client may fill with its parts, for unit tests).
 */
function loadPage(options = {}) {
  const page = {
    sockets: [],
    states: [],
    logs: [],
    http: [],
    applied: [],
    uncaught: [],
    layout: Object.assign({}, options.layout || {}),
    broken: new Set(options.broken || []),
    hydrated: options.hydrated !== false,
    // down: new sockets fail 10 ms after they are made, as a browser's do
    // when the server cannot be reached; pong: an open socket answers ping.
    network: {down: Boolean(options.networkDown), pong: true},
    config: Object.assign({}, DEFAULT_CONFIG, options.config || {}),
    exports: options.exports
  };
  const clock = new FakeClock((error) => page.uncaught.push(error));
  page.clock = clock;

  // The browser side of a socket; the test plays the server through the
  // methods below the constructor.
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.createdAt = clock.now;
      this.readyState = 0;
      this.sentText = [];
      this.closedByPage = null;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      page.sockets.push(this);
      if (page.network.down) clock.setTimeout(() => this.drop(1006), 10);
    }

    // Page side.
    send(text) {
      if (this.readyState !== 1) throw new Error('send on a socket that is not open');
      if (typeof text !== 'string') throw new Error('the client sends text frames');
      this.sentText.push(text);
      if (page.network.pong && JSON.parse(text).type === 'ping') {
        clock.setTimeout(() => { if (this.readyState === 1) this.receive([{type: 'pong'}]); }, 1);
      }
    }

    close(code, reason) {
      this.closedByPage = {code, reason};
      this.readyState = 2;
    }

    // Server side.
    get sent() {
      return this.sentText.map((text) => JSON.parse(text));
    }

    sentOfType(type) {
      return this.sent.filter((message) => message.type === type);
    }

    dispatch(handler, event) {
      if (!handler) return;
      try {
        handler.call(this, event);
      } catch (error) {
        page.uncaught.push(error); // a browser reports it and goes on
      }
    }

    accept() {
      this.readyState = 1;
      this.dispatch(this.onopen, {type: 'open'});
      return settle();
    }

    receive(messages) {
      this.dispatch(this.onmessage, {type: 'message', data: JSON.stringify(messages)});
      return settle();
    }

    hello(session, secret, resumed) {
      return this.receive([{type: 'hello', session, secret, resumed: Boolean(resumed)}]);
    }

    drop(code = 1006, reason = '') {
      if (this.readyState === 3) return settle();
      this.readyState = 3;
      this.dispatch(this.onclose, {type: 'close', code, reason, wasClean: code !== 1006});
      return settle();
    }
  }
  FakeWebSocket.CONNECTING = 0;
  FakeWebSocket.OPEN = 1;
  FakeWebSocket.CLOSING = 2;
  FakeWebSocket.CLOSED = 3;

  const keyOf = (id) => (typeof id === 'string' ? id : JSON.stringify(id));

  class FakeCustomEvent {
    constructor(type, init) {
      this.type = type;
      this.detail = init ? init.detail : null;
    }
  }

  const document = {
    getElementById(id) {
      if (id !== '_dash-config') return null;
      return {textContent: JSON.stringify({url_base_pathname: '/', dash_ws: page.config})};
    },
    dispatchEvent(event) {
      if (event.type === 'dash-ws:state') {
        page.states.push({state: event.detail.state, reason: event.detail.reason, at: clock.now});
      }
      return true;
    }
  };

  const console = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    console[level] = (text, detail) => {
      page.logs.push({level, text: String(text), detail});
      if (process.env.DASH_WS_TEST_VERBOSE) process.stderr.write(`[${level}] ${text} ${detail || ''}\n`);
    };
  }

  const sandbox = {
    console,
    document,
    location: {
      protocol: 'http:', host: '127.0.0.1:8050', pathname: '/', search: '',
      href: 'http://127.0.0.1:8050/'
    },
    WebSocket: FakeWebSocket,
    CustomEvent: FakeCustomEvent,
    Response,
    Headers,
    URL,
    TextEncoder,
    setTimeout: clock.setTimeout.bind(clock),
    clearTimeout: clock.clearTimeout.bind(clock),
    setInterval: clock.setInterval.bind(clock),
    clearInterval: clock.clearTimeout.bind(clock),
    fetch(input, init) {
      page.http.push({url: typeof input === 'string' ? input : input.url, body: init && init.body});
      return Promise.resolve(new Response('{"over":"http"}', {
        status: 200, headers: {'Content-Type': 'application/json'}
      }));
    },
    store: {getState: () => ({appLifecycle: page.hydrated ? 'HYDRATED' : 'STARTED'})},
    dash_component_api: {
      getLayout(id) {
        const props = page.layout[keyOf(id)];
        return props === undefined ? undefined : {props};
      }
    },
    dash_clientside: {
      set_props(id, props) {
        const key = keyOf(id);
        if (page.broken.has(key)) throw new Error(`the renderer lost ${key}`);
        page.applied.push({component: plain(id), props: plain(props)});
        if (page.layout[key]) Object.assign(page.layout[key], plain(props));
      }
    }
  };
  if (options.exports) sandbox.__dash_ws_test__ = options.exports;
  sandbox.window = sandbox;
  const context = vm.createContext(sandbox);
  vm.runInContext('Date', context).now = () => clock.now;
  vm.runInContext('Math', context).random = () => (options.random === undefined ? 1 : options.random);
  vm.runInContext(fs.readFileSync(CLIENT, 'utf8'), context, {filename: CLIENT});

  Object.defineProperty(page, 'socket', {get: () => page.sockets[page.sockets.length - 1]});
  page.window = sandbox;

  // A callback request as the renderer sends it; `pad` makes its body longer.
  page.call = function (output = 'out.children', pad = '') {
    const body = JSON.stringify({
      output,
      outputs: {id: output.split('.')[0], property: output.split('.')[1]},
      inputs: [{id: 'btn', property: 'n_clicks', value: 1}],
      changedPropIds: ['btn.n_clicks'],
      pad
    });
    const call = {done: false, response: null, text: null};
    call.promise = Promise.resolve(sandbox.fetch(config().update_path, {
      method: 'POST', body, headers: {'Content-Type': 'application/json', 'X-CSRFToken': 't'}
    })).then(async (response) => {
      call.response = response;
      call.text = await response.text();
      call.done = true;
      return response;
    });
    return call;
  };
  function config() {
    return page.config;
  }

  page.statesNamed = (state) => page.states.filter((entry) => entry.state === state);
  page.logged = (level, fragment) =>
    page.logs.filter((entry) => entry.level === level && entry.text.includes(fragment));

  // Opens the newest socket and answers its join with a hello.
  page.connect = async function (session = 's1', secret = 'k1', resumed = false) {
    await page.socket.accept();
    await page.socket.hello(session, secret, resumed);
  };
  return page;
}

module.exports = {loadPage, settle, FakeClock, plain};
