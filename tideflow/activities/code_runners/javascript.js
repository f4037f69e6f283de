// Runs one JavaScript code node inside a sandbox process; the protocol is described in
// python3.py next to this file. Node's permission model (flags set by code_sandbox.py) refuses
// file access outside the sandbox dir, child processes and worker threads.
'use strict';

const fs = require('fs');
const vm = require('vm');

const USER_FILE = '<code>';
const resultFd = Number(process.argv[2]);

function writeAll(fd, text) {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < bytes.length) {
    offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
  }
}

function userLine(error) {
  const stack = error && typeof error.stack === 'string' ? error.stack : '';
  const match = stack.match(/<code>:(\d+)/);
  return match ? Number(match[1]) : null;
}

function hideHostAccess() {
  // Best effort: the permission model does not cover the network or signals, so take away the
  // obvious handles. Without a network namespace, sockets stay reachable in other ways.
  for (const name of ['fetch', 'WebSocket', 'EventSource']) {
    delete globalThis[name];
  }
  const handles = ['kill', '_kill', 'dlopen', 'binding', '_linkedBinding', 'mainModule'];
  for (const name of [...handles, 'getBuiltinModule']) {
    process[name] = undefined;
  }
}

async function runUserCode(code, inputs) {
  try {
    vm.runInThisContext(code, { filename: USER_FILE });
    const entry = vm.runInThisContext('typeof main === "function" ? main : undefined');
    if (entry === undefined) {
      return { ok: false, error_type: 'CodeError', message: 'no main() function' };
    }
    return { ok: true, result: await entry(inputs) };
  } catch (error) {
    console.log(error && error.stack ? error.stack : String(error));
    const name = error && error.name ? String(error.name) : 'Error';
    const message = error && error.message !== undefined ? String(error.message) : String(error);
    return { ok: false, error_type: name, message, line: userLine(error) };
  }
}

function encodeReply(reply) {
  try {
    const text = JSON.stringify(reply);
    if (reply.ok && reply.result === undefined) {
      return JSON.stringify({ ok: false, error_type: 'OutputError', message: 'main() returned undefined' });
    }
    return text;
  } catch (error) {
    return JSON.stringify({ ok: false, error_type: 'OutputError', message: `not JSON: ${error.message}` });
  }
}

async function serve() {
  fs.writeSync(resultFd, 'R');
  const request = JSON.parse(fs.readFileSync(0, 'utf8'));
  hideHostAccess();
  const reply = await runUserCode(request.code, request.inputs);
  writeAll(resultFd, encodeReply(reply));
  fs.closeSync(resultFd);
  process.exit(0);
}

serve();
