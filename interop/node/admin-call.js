#!/usr/bin/env node
'use strict';

// Calls one endpoint of a ringpop node over TChannel, the way ringpop's own
// client does (service "ringpop", transport headers as=raw, cn=ringpop), using
// the pinned tchannel-node. Used by the interop tests to cross-check nodes.
//
// Usage:
//   node admin-call.js <host:port> <endpoint> [body] [--head=<arg2>] [--timeout=<ms>]
//
//   node admin-call.js 127.0.0.1:3000 /admin/stats
//   node admin-call.js 127.0.0.1:3000 /admin/lookup '{"key":"abc"}'
//
// On success (call answered OK) prints arg3 to stdout and exits 0.
// An application error (call answered not-OK) prints arg3 to stderr, exit 2.
// A transport error or timeout prints the error to stderr, exit 1.
// Bad usage exits 64.

var TChannel = require('tchannel');

var USAGE = 'usage: admin-call.js <host:port> <endpoint> [body] [--head=<arg2>] [--timeout=<ms>]';

function parseArgs(argv) {
    var opts = {head: '', body: '', timeout: 5000};
    var positional = [];
    for (var i = 0; i < argv.length; i++) {
        var arg = argv[i];
        if (arg.indexOf('--head=') === 0) {
            opts.head = arg.slice('--head='.length);
        } else if (arg.indexOf('--timeout=') === 0) {
            opts.timeout = Number(arg.slice('--timeout='.length));
        } else if (arg === '-h' || arg === '--help') {
            console.log(USAGE);
            process.exit(0);
        } else {
            positional.push(arg);
        }
    }
    if (positional.length < 2 || positional.length > 3) {
        return null;
    }
    if (!/^[^:]+:\d+$/.test(positional[0])) {
        return null;
    }
    if (!(opts.timeout > 0)) {
        return null;
    }
    opts.host = positional[0];
    opts.endpoint = positional[1];
    if (positional.length === 3) {
        opts.body = positional[2];
    }
    return opts;
}

function main() {
    var opts = parseArgs(process.argv.slice(2));
    if (!opts) {
        console.error(USAGE);
        process.exit(64);
    }

    var exitCode = 1;
    var finished = false;
    // Hard bound: never outlive the call timeout by much, whatever the channel does.
    var guard = setTimeout(function onGuard() {
        console.error('admin-call: no answer from ' + opts.host + ' within ' + opts.timeout + ' ms');
        process.exit(1);
    }, opts.timeout + 2000);

    var channel = new TChannel({logger: quietLogger()});
    var sub = channel.makeSubChannel({
        serviceName: 'ringpop',
        peers: [opts.host],
        trace: false
    });

    function finish(code) {
        if (finished) {
            return;
        }
        finished = true;
        exitCode = code;
        clearTimeout(guard);
        channel.close(function onClosed() {
            process.exit(exitCode);
        });
        // close() waits for peers to drain; do not let it hang the exit.
        setTimeout(function onCloseTimeout() {
            process.exit(exitCode);
        }, 500).unref();
    }

    sub.waitForIdentified({host: opts.host}, function onIdentified(err) {
        if (err) {
            console.error('admin-call: cannot connect to ' + opts.host + ': ' + err.message);
            finish(1);
            return;
        }
        sub.request({
            host: opts.host,
            serviceName: 'ringpop',
            hasNoParent: true,
            retryLimit: 1,
            trace: false,
            timeout: opts.timeout,
            headers: {as: 'raw', cn: 'ringpop'}
        }).send(opts.endpoint, opts.head, opts.body, function onResponse(err, res, arg2, arg3) {
            if (err) {
                console.error('admin-call: ' + opts.endpoint + ' on ' + opts.host + ' failed: ' +
                    (err.type ? err.type + ': ' : '') + err.message);
                finish(1);
                return;
            }
            var body = arg3 ? String(arg3) : '';
            if (!res.ok) {
                process.stderr.write(body + '\n', function onWritten() {
                    finish(2);
                });
                return;
            }
            process.stdout.write(body + '\n', function onWritten() {
                finish(0);
            });
        });
    });
}

function quietLogger() {
    function noop() {}
    function toStderr(level) {
        return function log(msg, info) {
            console.error('admin-call tchannel ' + level + ': ' + msg +
                (info ? ' ' + safeStringify(info) : ''));
        };
    }
    return {
        trace: noop,
        debug: noop,
        info: noop,
        warn: noop,
        error: toStderr('error'),
        fatal: toStderr('fatal')
    };
}

function safeStringify(value) {
    try {
        return JSON.stringify(value);
    } catch (e) {
        return String(value);
    }
}

main();
