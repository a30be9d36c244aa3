/*
 * dash-ws browser client.
 *
 * Three parts, each with one job:
 *  - Connection: the page's socket and its state (connecting, open, closed),
 *    heartbeat, and reconnecting with backoff and jitter after a drop.
 *  - Page: the Dash renderer as seen from the socket: apply streamed props,
 *    read a prop, tell when the layout has rendered.
 *  - Calls: the renderer's callback requests, taken from fetch and sent over
 *    the socket, answered with a Response exactly like the HTTP route's.
 * The wire protocol is described in docs/protocol.md.
 */
(function () {
  'use strict';

  var PROTOCOL_VERSION = 1;
  var HEARTBEAT_MS = 15000;
  var HEARTBEAT_TIMEOUT_MS = 10000;
  var CONNECT_TIMEOUT_MS = 5000;
  var RETRY_BASE_MS = 500;
  var RETRY_MAX_MS = 15000;
  // Closes after which the socket must not be reopened for this page.
  var REFUSED = {4001: 'unauthorized', 4003: 'origin not allowed', 4400: 'protocol version'};
  // Closes that are the network's or the server's fault: reconnect at once.
  var ABNORMAL = {1001: 1, 1006: 1, 1011: 1, 1012: 1, 1013: 1, 1014: 1, 4008: 1};

  function readConfig() {
    var element = document.getElementById('_dash-config');
    if (!element) return null;
    try {
      return JSON.parse(element.textContent).dash_ws || null;
    } catch (error) {
      return null;
    }
  }

  var config = readConfig();
  if (!config || !config.enabled) return;

  function log(level, message, detail) {
    // eslint-disable-next-line no-console
    console[level]('dash-ws: ' + message, detail === undefined ? '' : detail);
  }

  /* ------------------------------------------------------------ Connection */

  function Connection(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.state = 'idle';
    this.reason = '';
    this.socket = null;
    this.retries = 0;
    this.waiters = [];
    this.heartbeat = null;
    this.lastHeard = 0;
    this.retryTimer = null;
  }

  Connection.prototype.setState = function (state, reason) {
    this.state = state;
    this.reason = reason || '';
    this.handlers.onState(state, this.reason);
  };

  Connection.prototype.open = function () {
    if (this.state === 'connecting' || this.state === 'open' || this.state === 'refused') return;
    clearTimeout(this.retryTimer);
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    var socket = new WebSocket(scheme + location.host + this.url + '?v=' + PROTOCOL_VERSION);
    var self = this;
    this.socket = socket;
    this.setState('connecting');
    socket.onopen = function () {
      self.retries = 0;
      self.lastHeard = Date.now();
      self.setState('open');
      self.startHeartbeat();
      self.settleWaiters(true);
      self.handlers.onOpen();
    };
    socket.onmessage = function (event) {
      self.lastHeard = Date.now();
      var messages;
      try {
        messages = JSON.parse(event.data);
      } catch (error) {
        log('error', 'unreadable frame from the server', error);
        return;
      }
      for (var i = 0; i < messages.length; i++) self.handlers.onMessage(messages[i]);
    };
    socket.onclose = function (event) {
      self.lost(socket, event);
    };
  };

  // The socket is gone, closed by either side or given up on; runs once per socket.
  Connection.prototype.lost = function (socket, event) {
    if (this.socket !== socket) return;
    this.socket = null;
    this.stopHeartbeat();
    this.settleWaiters(false);
    this.handlers.onClose(event);
    this.afterClose(event);
  };

  Connection.prototype.afterClose = function (event) {
    if (REFUSED[event.code]) {
      log('error', 'the server refused this page\'s socket (' + event.code + ' ' +
        REFUSED[event.code] + '): ' + event.reason + '; callbacks use HTTP');
      this.setState('refused', event.reason);
      return;
    }
    if (ABNORMAL[event.code]) {
      var delay = Math.min(RETRY_BASE_MS * Math.pow(2, this.retries), RETRY_MAX_MS);
      delay = delay / 2 + Math.random() * delay / 2;
      this.retries += 1;
      this.setState('reconnecting', event.reason || 'connection lost (' + event.code + ')');
      var self = this;
      this.retryTimer = setTimeout(function () { self.open(); }, delay);
      return;
    }
    this.setState('closed', event.reason || 'closed (' + event.code + ')');
  };

  Connection.prototype.send = function (message) {
    this.socket.send(JSON.stringify(message));
  };

  // Resolves true once open, false if it cannot open within the timeout.
  Connection.prototype.whenOpen = function () {
    if (this.state === 'open') return Promise.resolve(true);
    if (this.state === 'refused') return Promise.resolve(false);
    this.open();
    var self = this;
    return new Promise(function (resolve) {
      var waiter = {resolve: resolve};
      waiter.timer = setTimeout(function () {
        self.waiters = self.waiters.filter(function (w) { return w !== waiter; });
        resolve(false);
      }, CONNECT_TIMEOUT_MS);
      self.waiters.push(waiter);
    });
  };

  Connection.prototype.settleWaiters = function (opened) {
    var waiters = this.waiters;
    this.waiters = [];
    waiters.forEach(function (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(opened);
    });
  };

  Connection.prototype.startHeartbeat = function () {
    var self = this;
    this.heartbeat = setInterval(function () {
      if (Date.now() - self.lastHeard > HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS) {
        log('warn', 'no answer from the server, reconnecting');
        var silent = self.socket;
        silent.close(4000, 'heartbeat timeout');
        self.lost(silent, {code: 1006, reason: 'heartbeat timeout'});
        return;
      }
      self.send({type: 'ping'});
    }, HEARTBEAT_MS);
  };

  Connection.prototype.stopHeartbeat = function () {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  };

  /* ------------------------------------------------------------ Page */

  var Page = {
    hydrated: function () {
      var store = window.store;
      return Boolean(store && store.getState().appLifecycle === 'HYDRATED');
    },

    // Calls back once the renderer has rendered the layout.
    whenHydrated: function (callback) {
      if (Page.hydrated()) {
        callback();
        return;
      }
      var poll = setInterval(function () {
        if (Page.hydrated()) {
          clearInterval(poll);
          callback();
        }
      }, 25);
    },

    layoutOf: function (component) {
      var api = window.dash_component_api;
      return api && api.getLayout ? api.getLayout(component) : undefined;
    },

    applyProps: function (component, props) {
      if (Page.layoutOf(component) === undefined) {
        log('warn', 'set_props for a component that is not in the layout', component);
        return;
      }
      window.dash_clientside.set_props(component, props);
    },

    readProp: function (component, prop) {
      var layout = Page.layoutOf(component);
      if (layout === undefined) return {found: false, value: null};
      var value = layout.props ? layout.props[prop] : undefined;
      return {found: true, value: value === undefined ? null : value};
    }
  };

  /* ------------------------------------------------------------ Calls */

  var NULL_BODY_STATUS = {101: 1, 204: 1, 205: 1, 304: 1};
  // Background callbacks poll their job over HTTP; they stay there.
  var BACKGROUND_ARGS = ['cacheKey', 'job', 'oldJob', 'cancelJob'];
  var nativeFetch = window.fetch.bind(window);
  var pending = {};
  var nextCallId = 1;
  var connection;

  function plainHeaders(headers) {
    var plain = {};
    if (!headers) return plain;
    if (typeof Headers !== 'undefined' && headers instanceof Headers) {
      headers.forEach(function (value, name) { plain[name] = value; });
      return plain;
    }
    Object.keys(headers).forEach(function (name) { plain[name] = String(headers[name]); });
    return plain;
  }

  function socketCall(input, init) {
    if (!init || String(init.method || 'GET').toUpperCase() !== 'POST') return null;
    var url = new URL(typeof input === 'string' ? input : input.url, location.href);
    if (url.pathname !== config.update_path) return null;
    if (BACKGROUND_ARGS.some(function (name) { return url.searchParams.has(name); })) return null;
    var body;
    try {
      body = JSON.parse(init.body);
    } catch (error) {
      return null;
    }
    if (!config.all_callbacks && config.outputs.indexOf(body.output) < 0) return null;
    return connection.whenOpen().then(function (opened) {
      if (!opened) return nativeFetch(input, init);
      return new Promise(function (resolve) {
        var id = nextCallId++;
        pending[id] = resolve;
        connection.send({
          type: 'call', id: id, body: body, query: url.search.slice(1),
          headers: plainHeaders(init.headers)
        });
      });
    });
  }

  window.fetch = function (input, init) {
    return socketCall(input, init) || nativeFetch(input, init);
  };

  function answerCall(message) {
    var resolve = pending[message.id];
    if (!resolve) return;
    delete pending[message.id];
    var body = NULL_BODY_STATUS[message.status] ? null : message.body;
    resolve(new Response(body, {
      status: message.status,
      headers: {'Content-Type': message.content_type || 'text/plain'}
    }));
  }

  // Callbacks in flight when the socket closes fail visibly, never silently.
  function failPendingCalls(reason) {
    Object.keys(pending).forEach(function (id) {
      var resolve = pending[id];
      delete pending[id];
      resolve(new Response('dash-ws: the connection closed while the callback ran (' +
        reason + ')', {status: 503, headers: {'Content-Type': 'text/plain'}}));
    });
  }

  /* ------------------------------------------------------------ wiring */

  function onMessage(message) {
    switch (message.type) {
      case 'set':
        Page.applyProps(message.component, message.props);
        break;
      case 'result':
        answerCall(message);
        break;
      case 'get':
        var answer = Page.readProp(message.component, message.prop);
        connection.send({type: 'prop', id: message.id, found: answer.found, value: answer.value});
        break;
      case 'error':
        log('error', message.message);
        break;
      case 'pong':
        break;
      default:
        log('warn', 'unknown message from the server', message);
    }
  }

  var status = window.dash_ws = {state: 'idle', reason: ''};

  connection = new Connection(config.url, {
    onState: function (state, reason) {
      status.state = state;
      status.reason = reason;
      document.dispatchEvent(new CustomEvent('dash-ws:state', {detail: {state: state, reason: reason}}));
    },
    onOpen: function () {
      if (config.persistent) {
        Page.whenHydrated(function () {
          if (connection.state === 'open') connection.send({type: 'ready'});
        });
      }
    },
    onMessage: onMessage,
    onClose: function (event) {
      failPendingCalls(event.reason || 'code ' + event.code);
    }
  });

  connection.open();
})();
