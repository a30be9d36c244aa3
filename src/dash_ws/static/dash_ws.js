/*
 * dash-ws browser client.
 *
 * Every deadline (degrading to HTTP, reopening with backoff, the heartbeat,
 * acknowledgements) is a Timer. Four parts, each with one job:
 *  - Connection: the page's socket and its state, heartbeat, and reopening
 *    with backoff and jitter after a drop.
 *  - Session: the page's session on the server across sockets: message
 *    numbers, acknowledgements, resuming after a drop.
 *  - Page: the Dash renderer as seen from the socket: apply streamed props,
 *    read a prop, tell when the layout has rendered, show the status.
 *  - Calls: the renderer's callback requests, taken from fetch and sent over
 *    the socket, answered with a Response exactly like the HTTP route's; over
 *    HTTP instead while the socket cannot be opened.
 * The wire protocol is described in docs/protocol.md.
 */
(function () {
  'use strict';

  var PROTOCOL_VERSION = 2;
  var CONNECT_WAIT_MS = 5000;
  var RETRY_BASE_MS = 250;
  var RETRY_MAX_MS = 10000;
  // An ack names the last numbered message handled. It goes out ACK_DELAY_MS after the
  // first one it covers, or as soon as the frames it covers reach ACK_CHARS characters:
  // a light stream costs the server one ack a second, a heavy one keeps what the server
  // holds for a resume small.
  var ACK_DELAY_MS = 1000;
  var ACK_CHARS = 256 * 1024;
  // A message longer than this many characters leaves in 'part' messages, so that no
  // frame passes the WebSocket server's frame limit whatever the upload (parts.py).
  var PART_CHARS = 256 * 1024;

  // Close codes, as docs/protocol.md's "Close codes" table has them (and
  // tests/unit/test_client_tables.py checks); any other code closes the socket
  // until a callback needs it again.
  // Refused: this page must not reopen its socket; callbacks use HTTP for good.
  var REFUSED = {4001: 'unauthorized', 4003: 'origin not allowed', 4400: 'protocol version'};
  // Dropped, by the network or the server: reopen with backoff and jitter, and resume.
  var DROPPED = {
    1001: 'going away', 1005: 'no status', 1006: 'connection lost', 1011: 'no heartbeat',
    1012: 'service restart', 1013: 'try again later', 1014: 'bad gateway',
    4000: 'heartbeat timeout', 4008: 'too slow'
  };
  // The code this page closes a socket with when the server has gone silent.
  var HEARTBEAT_TIMEOUT_CODE = 4000;

  // Why the state changed, or why a callback failed, as the app is told.
  var REASON = {
    HEARTBEAT_TIMEOUT: 'heartbeat timeout',
    CANNOT_OPEN: 'the socket could not be opened',
    SESSION_LOST: 'the server no longer knew this page\'s session',
    NEW_SESSION: 'a new session started',
    CONNECTION_LOST: 'connection lost',
    CLOSED: 'closed'
  };

  // A close the server gave no reason for: what happened, with its code.
  function withCode(reason, code) {
    return reason + ' (' + code + ')';
  }

  // One deadline, scheduled again as often as needed: schedule() counts its
  // tries since the last reset() and calls back after delayFor(tries) ms,
  // replacing the deadline it had; clear() cancels it and keeps the count.
  function Timer(callback, delayFor) {
    this.callback = callback;
    this.delayFor = delayFor;
    this.tries = 0;
    this.handle = null;
  }

  Timer.prototype.schedule = function () {
    var self = this;
    this.clear();
    this.tries += 1;
    this.handle = setTimeout(function () {
      self.handle = null;
      self.callback();
    }, this.delayFor(this.tries));
  };

  Timer.prototype.isPending = function () {
    return this.handle !== null;
  };

  Timer.prototype.clear = function () {
    if (this.handle !== null) clearTimeout(this.handle);
    this.handle = null;
  };

  Timer.prototype.reset = function () {
    this.clear();
    this.tries = 0;
  };

  function every(ms) {
    return function () { return ms; };
  }

  // Exponential backoff with jitter: after the n-th drop in a row, wait
  // between half and all of 250 ms * 2^(n-1), at most 10 s.
  function backoff(tries) {
    var delay = Math.min(RETRY_BASE_MS * Math.pow(2, tries - 1), RETRY_MAX_MS);
    return delay / 2 + Math.random() * delay / 2;
  }

  // The JavaScript tests (tests/js) run this file under Node and unit-test its
  // parts through this object; a page never defines it.
  if (window.__dash_ws_test__) window.__dash_ws_test__.Timer = Timer;

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

  // States: idle, connecting, open, reconnecting, degraded (cannot open: callbacks
  // use HTTP while retrying), closed (by the server or for inactivity), refused.
  function Connection(url, handlers) {
    var self = this;
    this.url = url;
    this.handlers = handlers;
    this.state = 'idle';
    this.socket = null;
    this.waiters = [];
    this.lastHeard = 0;
    // Not open in time: callbacks use HTTP meanwhile.
    this.degradeTimer = new Timer(function () { self.degrade(); }, every(CONNECT_WAIT_MS));
    // Dropped: open again, later after each drop in a row.
    this.reconnectTimer = new Timer(function () { self.open(); }, backoff);
    // Open: ping, or give up on a server gone silent.
    this.heartbeatTimer = new Timer(function () { self.beat(); }, function () {
      return config.heartbeat_ms;
    });
  }

  Connection.prototype.setState = function (state, reason) {
    this.state = state;
    this.handlers.onState(state, reason || '');
  };

  // The socket has opened: every deadline starts afresh, here and nowhere else.
  // (The session's ack timer goes on: its ack is still owed on this socket.)
  Connection.prototype.resetTimers = function () {
    this.degradeTimer.reset();
    this.reconnectTimer.reset();
    this.heartbeatTimer.reset();
    this.heartbeatTimer.schedule();
  };

  // The socket will not reopen by itself: no deadline is left.
  Connection.prototype.stopTimers = function () {
    this.degradeTimer.clear();
    this.reconnectTimer.clear();
    this.heartbeatTimer.clear();
  };

  Connection.prototype.open = function () {
    if (this.socket || this.state === 'refused') return;
    this.reconnectTimer.clear();
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    var query = '?v=' + PROTOCOL_VERSION + '&page=' +
      encodeURIComponent(location.pathname + location.search);
    var socket = new WebSocket(scheme + location.host + this.url + query);
    var self = this;
    this.socket = socket;
    if (this.state !== 'reconnecting' && this.state !== 'degraded') this.setState('connecting');
    if (!this.degradeTimer.isPending() && this.state !== 'degraded') this.degradeTimer.schedule();
    socket.onopen = function () {
      self.lastHeard = Date.now();
      self.resetTimers();
      self.send(self.handlers.joinMessage());
      self.setState('open');
      self.settleWaiters(true);
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
      if (!Array.isArray(messages)) {
        log('error', 'a frame from the server that is not a list of messages', messages);
        return;
      }
      self.handlers.onFrame(messages, event.data.length);
    };
    socket.onclose = function (event) {
      self.lost(socket, event);
    };
  };

  // The socket could not be opened in time: callbacks go over HTTP meanwhile.
  Connection.prototype.degrade = function () {
    if (this.state === 'open' || this.state === 'refused' || this.state === 'closed') return;
    log('warn', 'the socket could not be opened; callbacks use HTTP until it can');
    this.setState('degraded', REASON.CANNOT_OPEN);
    this.settleWaiters(false);
  };

  // The socket is gone, closed by either side or given up on; runs once per socket.
  Connection.prototype.lost = function (socket, event) {
    if (this.socket !== socket) return;
    this.socket = null;
    this.heartbeatTimer.clear();
    var code = event.code;
    if (REFUSED[code]) {
      log('error', 'the server refused this page\'s socket (' + code + ' ' + REFUSED[code] +
        '): ' + event.reason + '; callbacks use HTTP');
      this.end('refused', event.reason);
      return;
    }
    if (DROPPED[code]) {
      if (this.state !== 'degraded') {
        this.setState('reconnecting', event.reason || withCode(REASON.CONNECTION_LOST, code));
      }
      this.reconnectTimer.schedule();
      return;
    }
    this.end('closed', event.reason || withCode(REASON.CLOSED, code));
  };

  // Closed or refused: nothing reopens the socket but a callback that needs it.
  Connection.prototype.end = function (state, reason) {
    this.stopTimers();
    this.setState(state, reason);
    this.settleWaiters(false);
    this.handlers.onEnded(reason);
  };

  // Sends a message object, or one already encoded as JSON text; a long one in parts,
  // one after the other with nothing between them.
  Connection.prototype.send = function (message) {
    var text = typeof message === 'string' ? message : JSON.stringify(message);
    if (text.length <= PART_CHARS) {
      this.socket.send(text);
      return;
    }
    for (var start = 0; start < text.length;) {
      var end = Math.min(start + PART_CHARS, text.length);
      var last = text.charCodeAt(end - 1);
      if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1; // keep a pair whole
      this.socket.send(JSON.stringify({type: 'part', more: end < text.length, data: text.slice(start, end)}));
      start = end;
    }
  };

  // Resolves true once open, false if it cannot be opened in time.
  Connection.prototype.whenOpen = function () {
    if (this.state === 'open') return Promise.resolve(true);
    if (this.state === 'refused' || this.state === 'degraded') return Promise.resolve(false);
    this.open();
    var self = this;
    return new Promise(function (resolve) { self.waiters.push(resolve); });
  };

  Connection.prototype.settleWaiters = function (opened) {
    var waiters = this.waiters;
    this.waiters = [];
    waiters.forEach(function (resolve) { resolve(opened); });
  };

  // Every heartbeat_ms while open: a ping, or, after two silent intervals, a
  // new socket.
  Connection.prototype.beat = function () {
    if (Date.now() - this.lastHeard > 2 * config.heartbeat_ms) {
      log('warn', 'no answer from the server, reconnecting');
      var silent = this.socket;
      silent.close(HEARTBEAT_TIMEOUT_CODE, REASON.HEARTBEAT_TIMEOUT);
      this.lost(silent, {code: HEARTBEAT_TIMEOUT_CODE, reason: REASON.HEARTBEAT_TIMEOUT});
      return;
    }
    this.heartbeatTimer.schedule();
    this.send({type: 'ping'});
  };

  /* ------------------------------------------------------------ Session */

  var Session = {
    id: null,
    secret: null,
    seen: 0,
    acked: 0,
    // Characters of the frames handled since the last ack.
    unackedChars: 0,
    ackTimer: new Timer(function () { Session.sendAck(); }, every(ACK_DELAY_MS)),

    // The first message on every socket; it names the session to resume, if any.
    // The secret travels here, never in the socket's URL, which logs record.
    joinMessage: function () {
      if (!Session.id) return {type: 'join'};
      return {type: 'join', session: Session.id, secret: Session.secret, seen: Session.seen};
    },

    // True for a message to handle; false for one already handled before a resume.
    admit: function (message) {
      if (message.n === undefined) return true;
      if (message.n <= Session.seen) return false;
      Session.seen = message.n;
      Session.scheduleAck();
      return true;
    },

    scheduleAck: function () {
      if (!Session.ackTimer.isPending()) Session.ackTimer.schedule();
    },

    sendAck: function () {
      Session.ackTimer.clear();
      if (connection.state === 'open' && Session.seen > Session.acked) {
        Session.acked = Session.seen;
        Session.unackedChars = 0;
        connection.send({type: 'ack', n: Session.seen});
      }
    },

    // A frame was handled: past ACK_CHARS since the last ack, acknowledge it now.
    framed: function (chars) {
      Session.unackedChars += chars;
      if (Session.unackedChars >= ACK_CHARS && Session.seen > Session.acked) Session.sendAck();
    },

    // The first message on every socket: a resumed session, or a new one.
    hello: function (message) {
      var lost = Session.id !== null && !message.resumed;
      Session.id = message.session;
      Session.secret = message.secret;
      if (message.resumed) {
        Calls.resend();
        return;
      }
      Session.seen = 0;
      Session.acked = 0;
      Session.unackedChars = 0;
      if (lost) {
        Calls.failAll(REASON.SESSION_LOST);
        Page.showStatus('closed', REASON.SESSION_LOST);
        Page.showStatus('open', REASON.NEW_SESSION);
      }
      if (config.persistent) {
        Page.whenHydrated(function () {
          if (connection.state === 'open') connection.send({type: 'ready'});
        });
      }
    }
  };

  /* ------------------------------------------------------------ Page */

  var Page = {
    hydrated: function () {
      var store = window.store;
      return Boolean(store && store.getState().appLifecycle === 'HYDRATED');
    },

    waitingForHydration: [],

    // Calls back once the renderer has rendered the layout, in the order asked.
    whenHydrated: function (callback) {
      if (Page.hydrated() && Page.waitingForHydration.length === 0) {
        callback();
        return;
      }
      Page.waitingForHydration.push(callback);
      if (Page.waitingForHydration.length > 1) return;
      var poll = setInterval(function () {
        if (!Page.hydrated()) return;
        clearInterval(poll);
        var callbacks = Page.waitingForHydration;
        Page.waitingForHydration = [];
        callbacks.forEach(function (waiting) {
          try {
            waiting();
          } catch (error) {
            log('error', 'a step waiting for the layout failed', error);
          }
        });
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

    // A prop's value, or the part of it at `path` (keys of objects, indices of arrays,
    // negative from the end, as Patch has them): null where nothing is there.
    readProp: function (component, prop, path) {
      var layout = Page.layoutOf(component);
      if (layout === undefined) return {found: false, value: null};
      var value = layout.props ? layout.props[prop] : undefined;
      (path || []).forEach(function (step) {
        if (value === null || value === undefined) return;
        if (typeof step === 'number' && Array.isArray(value)) {
          value = value[step < 0 ? value.length + step : step];
        } else if (typeof step === 'string' && typeof value === 'object' && !Array.isArray(value)) {
          value = Object.prototype.hasOwnProperty.call(value, step) ? value[step] : undefined;
        } else {
          value = undefined;
        }
      });
      return {found: true, value: value === undefined ? null : value};
    },

    // Connection status for the app: window.dash_ws, a DOM event, and every
    // dash_ws.ConnectionStatus store in the layout.
    showStatus: function (state, reason) {
      var status = {state: state, reason: reason, since: Date.now()};
      window.dash_ws.state = state;
      window.dash_ws.reason = reason;
      document.dispatchEvent(new CustomEvent('dash-ws:state', {detail: status}));
      Page.whenHydrated(function () {
        (config.status_ids || []).forEach(function (id) {
          if (Page.layoutOf(id) !== undefined) window.dash_clientside.set_props(id, {data: status});
        });
      });
    }
  };

  /* ------------------------------------------------------------ Calls */

  var NULL_BODY_STATUS = {101: 1, 204: 1, 205: 1, 304: 1};
  // Background callbacks poll their job over HTTP; they stay there.
  var BACKGROUND_ARGS = ['cacheKey', 'job', 'oldJob', 'cancelJob'];
  var nativeFetch = window.fetch.bind(window);

  var Calls = {
    pending: {},
    nextId: 1,

    plainHeaders: function (headers) {
      var plain = {};
      if (!headers) return plain;
      if (typeof Headers !== 'undefined' && headers instanceof Headers) {
        headers.forEach(function (value, name) { plain[name] = value; });
        return plain;
      }
      Object.keys(headers).forEach(function (name) { plain[name] = String(headers[name]); });
      return plain;
    },

    // A Response promise for a renderer request that belongs on the socket, else null.
    route: function (input, init) {
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
      var message = {
        type: 'call', id: 0, output: body.output, body: init.body, query: url.search.slice(1),
        headers: Calls.plainHeaders(init.headers)
      };
      return connection.whenOpen().then(function (opened) {
        if (!opened) return nativeFetch(input, init);
        return new Promise(function (resolve) {
          // The server's limit is on the request body, as for HTTP (websocket_max_message_bytes).
          var size = Calls.size(init.body);
          if (size > config.max_message_bytes) {
            var reason = 'the inputs of ' + body.output + ' take ' + size + ' bytes; the ' +
              'server takes at most ' + config.max_message_bytes + ' (websocket_max_message_bytes)';
            log('error', reason);
            resolve(new Response('dash-ws: ' + reason, {
              status: 413, headers: {'Content-Type': 'text/plain'}
            }));
            return;
          }
          message.id = Calls.nextId++;
          Calls.pending[message.id] = {resolve: resolve, message: message};
          connection.send(JSON.stringify(message));
        });
      });
    },

    // Bytes of a text in UTF-8: the server's limit counts bytes, not characters.
    size: function (text) {
      if (text.length * 3 <= config.max_message_bytes) return text.length;
      return new TextEncoder().encode(text).length;
    },

    answer: function (message) {
      var call = Calls.pending[message.id];
      if (!call) return;
      delete Calls.pending[message.id];
      var body = NULL_BODY_STATUS[message.status] ? null : message.body;
      var response = new Response(body, {
        status: message.status,
        headers: {'Content-Type': message.content_type || 'text/plain'}
      });
      if (!message.cookies) {
        call.resolve(response);
        return;
      }
      // The callback set cookies: take them over HTTP first, as its HTTP response would
      // have set them, then let the server see the browser's cookies as they now are.
      Calls.exchangeCookies(message.cookies, 'apply')
        .then(function () { return Calls.exchangeCookies(message.cookies, 'sync'); })
        .catch(function (error) { log('warn', 'the cookies a callback set were lost: ' + error); })
        .then(function () { call.resolve(response); });
    },

    exchangeCookies: function (token, step) {
      return nativeFetch(config.cookies_url, {
        method: 'POST', credentials: 'same-origin', cache: 'no-store',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({token: token, step: step})
      }).then(function (answer) {
        if (!answer.ok) throw new Error('HTTP ' + answer.status);
      });
    },

    // After a resume: the server runs each call once, so unanswered ones go again.
    resend: function () {
      Object.keys(Calls.pending).forEach(function (id) {
        connection.send(Calls.pending[id].message);
      });
    },

    // Callbacks whose answer can no longer come fail visibly, never silently.
    failAll: function (reason) {
      Object.keys(Calls.pending).forEach(function (id) {
        var call = Calls.pending[id];
        delete Calls.pending[id];
        log('error', 'callback ' + call.message.output + ' failed: ' + reason);
        call.resolve(new Response('dash-ws: ' + reason, {
          status: 503, headers: {'Content-Type': 'text/plain'}
        }));
      });
    }
  };

  window.fetch = function (input, init) {
    return Calls.route(input, init) || nativeFetch(input, init);
  };

  /* ------------------------------------------------------------ wiring */

  function handle(message) {
    if (!Session.admit(message)) return;
    switch (message.type) {
      case 'hello':
        Session.hello(message);
        break;
      case 'set':
        Page.applyProps(message.component, message.props);
        break;
      case 'result':
        Calls.answer(message);
        break;
      case 'get':
        var answer = Page.readProp(message.component, message.prop, message.path);
        connection.send({type: 'prop', id: message.id, found: answer.found, value: answer.value});
        break;
      case 'error':
        log('error', message.message);
        break;
      case 'gap':
        // A feed's history no longer held what this page missed while away.
        log('warn', 'messages of topic ' + message.topic + ' were lost while this page was away');
        window.dash_ws.gaps = (window.dash_ws.gaps || 0) + 1;
        document.dispatchEvent(new CustomEvent('dash-ws:gap', {detail: {topic: message.topic}}));
        break;
      case 'pong':
        break;
      default:
        log('warn', 'unknown message from the server', message);
    }
  }

  // Each message on its own: one that cannot be applied (say, set_props on a
  // component the renderer no longer has) is logged, and the rest of its
  // frame is still applied, a result included.
  function handleFrame(messages, chars) {
    messages.forEach(function (message) {
      try {
        handle(message);
      } catch (error) {
        var type = message && message.type ? message.type : 'malformed';
        log('error', 'could not apply a ' + type + ' message from the server', error);
      }
    });
    Session.framed(chars);
  }

  window.dash_ws = {state: 'idle', reason: ''};

  var connection = new Connection(config.url, {
    joinMessage: Session.joinMessage,
    onState: Page.showStatus,
    onFrame: handleFrame,
    onEnded: function (reason) {
      Calls.failAll(reason);
      Session.id = null;
      Session.secret = null;
    }
  });

  connection.open();
})();
