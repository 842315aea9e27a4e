/**
 * Hearth's runtime interface client (RIC) for Node.js.
 *
 * It is the "runtime" of a nodejs function inside a Hearth sandbox: it polls the
 * Lambda Runtime API that hearth-init serves (AWS_LAMBDA_RUNTIME_API), calls the
 * handler named by _HANDLER and posts back the result or the error. Handler lookup,
 * the context object, callback/async semantics (including
 * callbackWaitsForEmptyEventLoop, done/succeed/fail), console log lines and error
 * shapes follow AWS's own Node.js RIC (aws-lambda-nodejs-runtime-interface-client),
 * so unmodified functions, and the callers that parse their errors, see what they
 * see on AWS.
 *
 * Node built-ins only. The file is CommonJS on purpose: an ES module entry point
 * makes Node start its ESM loader before the first line runs, which measurably
 * lengthens every cold start; ES module handlers still load through import().
 */

'use strict';

const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { createRequire } = require('node:module');
const { pathToFileURL } = require('node:url');

const API_PREFIX = '/2018-06-01/runtime/';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';

// ---------------------------------------------------------------------------
// Errors (AWS's Errors.js).

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {
  constructor(original) {
    super(String(original));
    // Keep the original stack: it points at the file and line that did not parse.
    if (original && typeof original.stack === 'string') this.stack = original.stack;
  }
}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
for (const E of [ImportModuleError, HandlerNotFound, MalformedHandlerName, UserCodeSyntaxError, UnhandledPromiseRejection, NodeJsExit]) {
  E.prototype.name = `Runtime.${E.name}`;
}

function isErrorLike(obj) {
  return (
    obj &&
    typeof obj.name === 'string' && obj.name &&
    typeof obj.message === 'string' && obj.message &&
    typeof obj.stack === 'string' && obj.stack
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

/** The error body the Runtime API receives: {errorType, errorMessage, trace}. */
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(value) {
  if (value instanceof Error) {
    const ret = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
    if (typeof value.stack === 'string') ret.stack = value.stack.split('\n');
    return ret;
  }
  return value;
}

/** The error as AWS logs it in text format: a tab, then JSON with name, message and stack. */
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// ---------------------------------------------------------------------------
// Console: every line carries time, request id and level (AWS's LogPatch.js).

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID = Symbol.for('aws.lambda.runtime.tenantId');
const LOG_FORMAT_JSON = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';

const jsonErrorReplacer = (_, value) => {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
};

function formatJsonMessage(requestId, timestamp, level, ...messageParams) {
  const result = { timestamp, level: level.name, requestId };
  const tenantId = globalThis[TENANT_ID];
  if (tenantId !== undefined && tenantId !== null) result.tenantId = tenantId;
  if (messageParams.length === 1) {
    result.message = messageParams[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch (_) {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...messageParams);
  for (const param of messageParams) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? 'UnknownError';
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function logText(level, message, ...params) {
  const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level.name}\t${util.format(message, ...params)}`;
  // One log event per call: inner newlines become \r, as on AWS.
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function logJson(level, message, ...params) {
  const line = formatJsonMessage(globalThis[REQUEST_ID], new Date().toISOString(), level, message, ...params);
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const log = LOG_FORMAT_JSON ? logJson : logText;
  const levels = {
    TRACE: { name: 'TRACE', priority: 1 },
    DEBUG: { name: 'DEBUG', priority: 2 },
    INFO: { name: 'INFO', priority: 3 },
    WARN: { name: 'WARN', priority: 4 },
    ERROR: { name: 'ERROR', priority: 5 },
    FATAL: { name: 'FATAL', priority: 6 },
  };
  const min = levels[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || levels.TRACE;
  const nop = () => {};
  const at = (level) => (level.priority >= min.priority ? (msg, ...params) => log(level, msg, ...params) : nop);
  console.trace = at(levels.TRACE);
  console.debug = at(levels.DEBUG);
  console.info = at(levels.INFO);
  console.log = console.info;
  console.warn = at(levels.WARN);
  console.error = at(levels.ERROR);
  console.fatal = (msg, ...params) => log(levels.FATAL, msg, ...params);
}

function logError(message, err) {
  if (LOG_FORMAT_JSON) console.error(intoError(err));
  else console.error(message, toFormatted(intoError(err)));
}

// ---------------------------------------------------------------------------
// Runtime API client: a small HTTP/1.1 client on one kept-alive socket. node:http
// costs about 0.3 ms more per invocation (two requests) than this, measured
// against the same server, which is most of the client's own overhead. Requests
// go one at a time, in order. The socket is unref'd while no request is
// outstanding, so an idle connection does not keep the event loop alive: the
// callbackWaitsForEmptyEventLoop semantics depend on that.

class RuntimeAPI {
  constructor(address) {
    const i = address.lastIndexOf(':');
    let host = i >= 0 ? address.slice(0, i) : address;
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    this.hostname = host || '127.0.0.1';
    this.port = i >= 0 ? parseInt(address.slice(i + 1), 10) : 9001;
    this.hostHeader = address;
    this.userAgent = `hearth-nodejs/${process.version}`;
    this.sock = null;
    this.buf = Buffer.alloc(0);
    this.current = null; // the request awaiting its response
    this.tail = Promise.resolve(); // requests are chained, one at a time
  }

  request(method, p, body, headers) {
    const run = () => this.exchange(method, p, body, headers);
    const res = this.tail.then(run, run);
    this.tail = res.then(
      () => {},
      () => {},
    );
    return res;
  }

  exchange(method, p, body, headers) {
    let head = `${method} ${API_PREFIX}${p} HTTP/1.1\r\nHost: ${this.hostHeader}\r\nUser-Agent: ${this.userAgent}\r\n`;
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    let payload;
    if (body !== undefined) {
      const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      head += `Content-Length: ${b.length}\r\n\r\n`;
      payload = b.length < 65536 ? Buffer.concat([Buffer.from(head, 'latin1'), b]) : [Buffer.from(head, 'latin1'), b];
    } else {
      payload = Buffer.from(head + '\r\n', 'latin1');
    }
    const attempt = (retry) =>
      new Promise((resolve, reject) => {
        const reused = this.sock !== null;
        if (!reused) this.connect();
        this.current = { resolve, reject, reused: reused && retry, gotBytes: false };
        this.sock.ref();
        if (Array.isArray(payload)) {
          this.sock.write(payload[0]);
          this.sock.write(payload[1]);
        } else {
          this.sock.write(payload);
        }
      }).catch((err) => {
        // A kept-alive connection the server closed while it was idle (or across a
        // freeze): the one case worth sending the request again.
        if (err && err.retryable) return attempt(false);
        throw err;
      });
    return attempt(true);
  }

  connect() {
    const sock = net.connect({ host: this.hostname, port: this.port });
    sock.setNoDelay(true);
    sock.on('data', (chunk) => this.onData(chunk));
    sock.on('error', (err) => this.onClose(sock, err));
    sock.on('close', () => this.onClose(sock, new Error('the Runtime API closed the connection')));
    this.sock = sock;
    this.buf = Buffer.alloc(0);
  }

  onClose(sock, err) {
    if (sock !== this.sock) return;
    this.sock = null;
    sock.destroy();
    const cur = this.current;
    this.current = null;
    if (!cur) return;
    if (cur.untilClose) {
      // A response without a length ends with the connection.
      cur.resolve({ status: cur.status, headers: cur.headers, body: this.buf });
      this.buf = Buffer.alloc(0);
      return;
    }
    if (cur.reused && !cur.gotBytes) err.retryable = true;
    cur.reject(err);
  }

  onData(chunk) {
    const cur = this.current;
    if (cur) cur.gotBytes = true;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (cur) this.parse(cur);
  }

  parse(cur) {
    for (;;) {
      if (cur.status === undefined) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = this.buf.toString('latin1', 0, end).split('\r\n');
        this.buf = this.buf.subarray(end + 4);
        const status = parseInt(lines[0].split(' ')[1], 10);
        if (status === 100) continue;
        const headers = {};
        for (let i = 1; i < lines.length; i++) {
          const c = lines[i].indexOf(':');
          if (c <= 0) continue;
          const name = lines[i].slice(0, c).trim().toLowerCase();
          // Header values are UTF-8 here (client context), not Latin-1.
          const value = Buffer.from(lines[i].slice(c + 1).trim(), 'latin1').toString('utf8');
          headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
        }
        cur.status = status;
        cur.headers = headers;
        cur.close = (headers.connection || '').toLowerCase() === 'close' || lines[0].startsWith('HTTP/1.0');
        if (status < 200 || status === 204 || status === 304) cur.length = 0;
        else if ((headers['transfer-encoding'] || '').toLowerCase().includes('chunked')) cur.chunks = [];
        else if (headers['content-length'] !== undefined) cur.length = parseInt(headers['content-length'], 10);
        else cur.untilClose = true;
      }
      if (cur.untilClose) return;
      let body;
      if (cur.chunks) {
        body = this.parseChunked(cur);
        if (body === undefined) return;
      } else {
        if (this.buf.length < cur.length) return;
        body = this.buf.subarray(0, cur.length);
        this.buf = this.buf.subarray(cur.length);
      }
      this.current = null;
      if (cur.close) {
        const sock = this.sock;
        this.sock = null;
        if (sock) sock.destroy();
      } else if (this.sock) {
        this.sock.unref();
      }
      cur.resolve({ status: cur.status, headers: cur.headers, body });
      return;
    }
  }

  parseChunked(cur) {
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return undefined;
      if (cur.trailers) {
        this.buf = this.buf.subarray(eol + 2);
        if (eol === 0) return Buffer.concat(cur.chunks);
        continue;
      }
      const size = parseInt(this.buf.toString('latin1', 0, eol).split(';')[0].trim() || '0', 16);
      if (size === 0) {
        this.buf = this.buf.subarray(eol + 2);
        cur.trailers = true;
        continue;
      }
      if (this.buf.length < eol + 2 + size + 2) return undefined;
      cur.chunks.push(this.buf.subarray(eol + 2, eol + 2 + size));
      this.buf = this.buf.subarray(eol + 2 + size + 2);
    }
  }

  async nextInvocation() {
    const res = await this.request('GET', 'invocation/next');
    if (res.status !== 200) {
      throw new Error(`GET ${API_PREFIX}invocation/next answered ${res.status}: ${res.body.toString('utf8', 0, 512)}`);
    }
    return { bodyJson: res.body.toString('utf8'), headers: res.headers };
  }

  async post(p, body, headers) {
    const res = await this.request('POST', p, body, headers);
    if (Math.floor(res.status / 100) !== 2) {
      // Not fatal: hearth-init may refuse a late or oversized response; the loop goes on.
      process.stderr.write(`Hearth runtime: POST ${API_PREFIX}${p} answered ${res.status}: ${res.body.toString('utf8', 0, 512)}\n`);
    }
  }

  postInvocationResponse(response, id, callback) {
    const body = serializeResponse(response);
    this.post(`invocation/${encodeURIComponent(id)}/response`, body, { 'Content-Type': 'application/json' }).then(callback, fatal);
  }

  postInvocationError(error, id, callback) {
    const response = toRapidResponse(error);
    this.post(`invocation/${encodeURIComponent(id)}/error`, JSON.stringify(response), {
      'Content-Type': 'application/json',
      [ERROR_TYPE_HEADER]: headerSafe(response.errorType),
    }).then(callback, fatal);
  }

  postInitError(error, callback) {
    const response = toRapidResponse(error);
    this.post('init/error', JSON.stringify(response), {
      'Content-Type': 'application/json',
      [ERROR_TYPE_HEADER]: headerSafe(response.errorType),
    }).then(callback, (err) => {
      process.stderr.write(`Hearth runtime: could not report the init error: ${err}\n`);
      callback();
    });
  }
}

function headerSafe(value) {
  // Header lines are written as Latin-1 and must not break the request: printable ASCII only.
  return String(value).replace(/[^\t\x20-\x7e]/g, '?');
}

function serializeResponse(body) {
  let s;
  try {
    s = JSON.stringify(body === undefined ? null : body);
  } catch (_) {
    throw new Error('Unable to stringify response body');
  }
  return s === undefined ? 'null' : s;
}

function fatal(err) {
  process.stderr.write(`Hearth runtime: the Runtime API failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------
// Loading the handler (AWS's UserFunction.js, the rules of nodejs18.x to 22.x).

// Modules the function requires see this file as their parent, named as AWS's
// entry point is, so "Require stack" lines in errors read as they do on AWS.
const userRequire = createRequire(path.join(__dirname, 'index.mjs'));

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

function tryRequireFile(file, extension) {
  const p = file + (extension || '');
  return fs.existsSync(p) ? userRequire(p) : undefined;
}

async function tryAwaitImport(file, extension) {
  const p = file + (extension || '');
  return fs.existsSync(p) ? await import(pathToFileURL(p).href) : undefined;
}

function hasFolderPackageJsonTypeModule(folder) {
  // The nearest package.json decides; a node_modules folder or / ends the search.
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, '/package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj));
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === '/') return false;
  return hasFolderPackageJsonTypeModule(path.resolve(folder, '..'));
}

async function tryRequire(appRoot, moduleRoot, module) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) return extensionless;

  const pjHasModule = hasFolderPackageJsonTypeModule(path.resolve(path.dirname(lambdaStylePath)));
  if (!pjHasModule) {
    const loaded = tryRequireFile(lambdaStylePath, '.js');
    if (loaded) return loaded;
  }
  const loaded =
    (pjHasModule && (await tryAwaitImport(lambdaStylePath, '.js'))) ||
    (await tryAwaitImport(lambdaStylePath, '.mjs')) ||
    tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) return loaded;

  // Last, Node's own resolution from the code directory (node_modules, NODE_PATH).
  return userRequire(userRequire.resolve(module, { paths: [appRoot, moduleRoot] }));
}

async function loadHandler(appRoot, fullHandlerString) {
  if (fullHandlerString.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, module, handlerPath] = match;

  let userApp;
  try {
    userApp = await tryRequire(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const handler = handlerPath.split('.').reduce((nested, key) => nested && nested[key], userApp);
  if (!handler) throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  return handler;
}

// ---------------------------------------------------------------------------
// Response streaming: awslambda.streamifyResponse marks a handler as streaming, as on
// AWS. Hearth buffers what the handler writes and posts it as one response.

function installAwsLambdaGlobal() {
  const v = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (v === '1' || v === 'true') return;
  class HttpResponseStream {
    static from(underlyingStream, prelude) {
      underlyingStream.setContentType('application/vnd.awslambda.http-integration-response');
      underlyingStream.write(JSON.stringify(prelude));
      underlyingStream.write(new Uint8Array(8)); // the prelude's end: 8 NUL bytes
      return underlyingStream;
    }
  }
  globalThis.awslambda = {
    streamifyResponse: (handler, options) => {
      handler[HANDLER_STREAMING] = STREAM_RESPONSE;
      if (typeof options?.highWaterMark === 'number') handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark);
      return handler;
    },
    HttpResponseStream,
  };
}

function createBufferedResponseStream() {
  const { Writable } = require('node:stream');
  const chunks = [];
  let contentType = 'application/octet-stream';
  const stream = new Writable({
    write(chunk, encoding, cb) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding));
      cb();
    },
  });
  stream.setContentType = (ct) => {
    contentType = ct;
  };
  return { stream, body: () => Buffer.concat(chunks), contentType: () => contentType };
}

// ---------------------------------------------------------------------------
// The invocation loop (AWS's Runtime.js, CallbackContext.js, InvokeContext.js).

const BEFORE_EXIT = Symbol.for('aws.lambda.beforeExit');
const beforeExit = {
  invoke: () => globalThis[BEFORE_EXIT](),
  reset: () => (globalThis[BEFORE_EXIT] = () => {}),
  set: (listener) => (globalThis[BEFORE_EXIT] = listener),
};

function buildCallbackContext(client, id, scheduleNext) {
  const postError = (err, callback) => {
    logError('Invoke Error', err);
    client.postInvocationError(err, id, callback);
  };
  let isCompleteInvoked = false;
  const complete = (result, callback) => {
    if (isCompleteInvoked) {
      console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
      return;
    }
    isCompleteInvoked = true;
    client.postInvocationResponse(result, id, callback);
  };
  let waitForEmptyEventLoop = true;

  const callback = function (err, result) {
    beforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else if (!waitForEmptyEventLoop) {
      complete(result, scheduleNext);
    } else {
      // The response goes out when the function's event loop is empty.
      beforeExit.set(() => setImmediate(() => complete(result, scheduleNext)));
    }
  };
  const done = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) postError(err, scheduleNext);
    else complete(result, scheduleNext);
  };
  const succeed = (result) => done(null, result);
  const fail = (err) => (err === undefined || err === null ? done('handled') : done(err, null));

  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed,
    fail,
    done,
  };

  // Only the first of callback/done/succeed/fail counts.
  let finished = false;
  const once = (fn) =>
    function () {
      if (!finished) {
        fn.apply(null, arguments);
        finished = true;
      }
    };
  context.succeed = once(context.succeed);
  context.fail = once(context.fail);
  context.done = once(context.done);
  return [once(callback), context, () => (isCompleteInvoked = true)];
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function attachEnvironmentData(context, headers) {
  const trace = headers['lambda-runtime-trace-id'];
  if (trace) process.env._X_AMZN_TRACE_ID = trace;
  else delete process.env._X_AMZN_TRACE_ID;
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  return Object.assign(
    context,
    {
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    },
    {
      clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: headers['lambda-runtime-aws-request-id'],
      tenantId: headers['lambda-runtime-aws-tenant-id'],
      getRemainingTimeInMillis: () => deadline - Date.now(),
    },
  );
}

function isPromise(obj) {
  return obj && obj.then && typeof obj.then === 'function';
}

class Runtime {
  constructor(client, handler, errorCallbacks) {
    this.client = client;
    this.handler = handler;
    this.errorCallbacks = errorCallbacks;
    this.isAsync = handler.constructor && handler.constructor.name === 'AsyncFunction';
    this.streaming = handler[HANDLER_STREAMING] === STREAM_RESPONSE;
  }

  scheduleIteration() {
    setImmediate(() => {
      const once = this.streaming ? this.handleOnceStreaming() : this.handleOnce();
      once.then(
        () => {},
        (err) => {
          // Only a Runtime API failure gets here; without it there is nothing to do.
          fatal(err);
        },
      );
    });
  }

  async next() {
    const { bodyJson, headers } = await this.client.nextInvocation();
    const id = headers['lambda-runtime-aws-request-id'];
    if (!id) throw new Error('invocation id is missing or invalid');
    globalThis[REQUEST_ID] = id;
    globalThis[TENANT_ID] = headers['lambda-runtime-aws-tenant-id'];
    return { bodyJson, headers, id };
  }

  async handleOnce() {
    const { bodyJson, headers, id } = await this.next();
    const [callback, callbackContext, markCompleted] = buildCallbackContext(this.client, id, () => this.scheduleIteration());
    try {
      this.setErrorCallbacks(id);
      this.setDefaultExitListener(id, markCompleted);
      const result = this.handler(JSON.parse(bodyJson), attachEnvironmentData(callbackContext, headers), callback);
      if (isPromise(result)) {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  async handleOnceStreaming() {
    const { bodyJson, headers, id } = await this.next();
    const [, callbackContext] = buildCallbackContext(this.client, id, () => this.scheduleIteration());
    const response = createBufferedResponseStream();
    this.setErrorCallbacks(id);
    beforeExit.set(() => this.scheduleIteration());
    let failed = false;
    try {
      const ctx = attachEnvironmentData(callbackContext, headers);
      const result = this.handler(JSON.parse(bodyJson), response.stream, ctx);
      if (!isPromise(result)) throw new Error('Streaming does not support non-async handlers.');
      await result;
      if (!response.stream.writableFinished) {
        await new Promise((resolve) => {
          response.stream.once('finish', resolve);
          response.stream.once('close', resolve);
        });
      }
    } catch (err) {
      failed = true;
      beforeExit.reset();
      logError('Invoke Error', err);
      this.client.postInvocationError(err, id, () => this.scheduleIteration());
    }
    if (!failed) {
      beforeExit.reset();
      this.client
        .post(`invocation/${encodeURIComponent(id)}/response`, response.body(), { 'Content-Type': response.contentType() })
        .then(() => this.scheduleIteration(), fatal);
    }
  }

  setErrorCallbacks(id) {
    this.errorCallbacks.uncaughtException = (error) => {
      this.client.postInvocationError(error, id, () => process.exit(129));
    };
    this.errorCallbacks.unhandledRejection = (error) => {
      this.client.postInvocationError(error, id, () => process.exit(128));
    };
  }

  setDefaultExitListener(id, markCompleted) {
    // The event loop emptied before the handler answered.
    beforeExit.set(() => {
      markCompleted();
      if (this.isAsync) {
        // An async handler whose promise can no longer settle.
        const err = new NodeJsExit();
        logError('Invoke Error', err);
        this.client.postInvocationError(err, id, () => this.scheduleIteration());
      } else {
        // A callback handler that never called back answers null, as on AWS.
        this.client.postInvocationResponse(null, id, () => this.scheduleIteration());
      }
    });
  }
}

// ---------------------------------------------------------------------------
// Start-up.

function noteVersionMismatch() {
  const m = /^AWS_Lambda_nodejs(\d+)/.exec(process.env.AWS_EXECUTION_ENV || '');
  if (m && m[1] !== process.versions.node.split('.')[0]) {
    process.stderr.write(`Hearth: nodejs${m[1]}.x requested; running on Node.js ${process.version} (the host's interpreter)\n`);
  }
}

function setDefaultNodePath(appRoot) {
  // Lambda's NODE_PATH, for layers (/opt/nodejs), when the environment brings none.
  if (process.env.NODE_PATH) return;
  const m = /^AWS_Lambda_nodejs(\d+)/.exec(process.env.AWS_EXECUTION_ENV || '');
  const major = m ? m[1] : process.versions.node.split('.')[0];
  process.env.NODE_PATH = [`/opt/nodejs/node${major}/node_modules`, '/opt/nodejs/node_modules', '/var/runtime/node_modules', '/var/runtime', appRoot].join(':');
  const Module = require('node:module');
  if (typeof Module._initPaths === 'function') Module._initPaths();
}

// The bundled AWS SDK for JavaScript v3 (runtimes.NodeSDK), mounted by Hearth when it
// is installed. It sits in an ancestor of /var/task so that ES modules find it: Node's
// ES module resolution ignores NODE_PATH, which AWS's runtimes patch Node to read.
const BUNDLED_SDK = '/var/node_modules';

function keepBundledSdkAfterNodePath() {
  // CommonJS looks in every ancestor's node_modules before NODE_PATH, so it would
  // find the bundled SDK before a layer's (/opt/nodejs/node_modules). Lambda's order
  // is the function's node_modules, then NODE_PATH: layers, then
  // /var/runtime/node_modules, a link to the bundled SDK. So modules outside the SDK
  // do not get its directory as an ancestor; the SDK's own modules keep it, and so
  // load their own dependencies.
  const Module = require('node:module');
  const nodeModulePaths = Module._nodeModulePaths;
  if (typeof nodeModulePaths !== 'function') return;
  Module._nodeModulePaths = function (from) {
    const paths = nodeModulePaths.call(this, from);
    if (from === BUNDLED_SDK || from.startsWith(BUNDLED_SDK + '/')) return paths;
    const i = paths.indexOf(BUNDLED_SDK);
    if (i >= 0) paths.splice(i, 1);
    return paths;
  };
}

function patchHomedir() {
  // On AWS, /etc/passwd names the function's user (sbx_user1051, uid 993, home
  // /home/sbx_user1051) and HOME is unset. A sandbox sees the host's /etc/passwd,
  // which may not name uid 993, and then os.homedir() throws ENOENT — which the AWS
  // SDK calls (for ~/.aws/config) on creating any client. Answer as AWS would.
  const os = require('node:os');
  const homedir = os.homedir;
  os.homedir = function () {
    try {
      return homedir.call(this);
    } catch (e) {
      if (process.env.HOME) throw e;
      return '/home/sbx_user1051';
    }
  };
}

function makeOutputBlocking() {
  // Node writes to pipes asynchronously on POSIX: a log line could then reach
  // hearth-init after the response it preceded (and be counted in the wrong
  // invocation), or be lost at process.exit. Blocking writes keep program order.
  for (const s of [process.stdout, process.stderr]) {
    if (s._handle && typeof s._handle.setBlocking === 'function') s._handle.setBlocking(true);
  }
}

async function main() {
  makeOutputBlocking();
  noteVersionMismatch();
  patchConsole();
  const appRoot = process.env.LAMBDA_TASK_ROOT || '/var/task';
  try {
    // The function runs in its code directory, as on AWS (relative paths in user code).
    process.chdir(appRoot);
  } catch (_) {
    // keep the current directory
  }
  setDefaultNodePath(appRoot);
  keepBundledSdkAfterNodePath();
  patchHomedir();
  const client = new RuntimeAPI(process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001');

  const errorCallbacks = {
    uncaughtException: (error) => client.postInitError(error, () => process.exit(129)),
    unhandledRejection: (error) => client.postInitError(error, () => process.exit(128)),
  };
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  beforeExit.reset();
  process.on('beforeExit', () => beforeExit.invoke());

  installAwsLambdaGlobal();
  let handler;
  try {
    handler = await loadHandler(appRoot, process.env._HANDLER || '');
  } catch (error) {
    // As an uncaught exception at start-up is on AWS: logged, posted to init/error.
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
    return;
  }
  new Runtime(client, handler, errorCallbacks).scheduleIteration();
}

main();
