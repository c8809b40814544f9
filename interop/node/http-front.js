#!/usr/bin/env node
'use strict';

// A ringpop-node node with an HTTP front, for forwarding interop tests and as the
// baseline of bench/forward.py. Our own script (ringpop-node's public API only):
//
//   node http-front.js --listen=127.0.0.1:3000 --hosts=hosts.json
//       --http=127.0.0.1:4000 [--app=objects] [--suspect-period=ms]
//       [--faulty-period=ms] [--tombstone-period=ms]
//
// RingPop runs with isCrossPlatform: true (FarmHash Fingerprint32, like ringpop
// for Python). The HTTP server answers:
//
//   ANY /objects/<id>[?...]  handled by the owner of <id>: ringpop.handleOrProxy(id,
//                            req, res) forwards it over /proxy/req when the id is
//                            not ours; the owner (here: the 'request' event) answers
//                            200 JSON {id, handled_by, forwarded} with header
//                            x-handled-by. With request header x-echo: 1 the JSON
//                            also has method, url, headers and body (base64); a
//                            request header x-want-status sets the status.
//   GET /                    {whoami, ready}
//
// Prints "ready <address> http://<http>" on stdout once bootstrapped and
// listening; SIGTERM/SIGINT self-evict, then exit 0.

var http = require('http');
var RingPop = require('ringpop');
var TChannel = require('tchannel');

function flags(argv) {
    var out = {};
    argv.slice(2).forEach(function each(arg) {
        var m = /^--([^=]+)=(.*)$/.exec(arg);
        if (!m) {
            console.error('bad argument: ' + arg);
            process.exit(2);
        }
        out[m[1]] = m[2];
    });
    return out;
}

var opts = flags(process.argv);
if (!opts.listen || !opts.hosts || !opts.http) {
    console.error('usage: http-front.js --listen=ip:port --hosts=file --http=ip:port');
    process.exit(2);
}

var quiet = function noop() {};
var logger = {
    trace: quiet, debug: quiet, info: quiet,
    warn: function warn(msg) { if (process.env.HTTP_FRONT_DEBUG) console.error('warn ' + msg); },
    error: function error(msg) { console.error('error ' + msg); }
};

var tchannel = new TChannel({logger: logger});
var ringpop = new RingPop({
    app: opts.app || 'objects',
    hostPort: opts.listen,
    logger: logger,
    channel: tchannel.makeSubChannel({serviceName: 'ringpop', trace: false}),
    isCrossPlatform: true,
    useLatestHash32: false,
    stateTimeouts: {
        suspect: Number(opts['suspect-period'] || 5000),
        faulty: Number(opts['faulty-period'] || 86400000),
        tombstone: Number(opts['tombstone-period'] || 60000)
    }
});
ringpop.setupChannel();

function answer(req, res, forwarded) {
    var m = /^\/objects\/([^/?]+)/.exec(req.url);
    var chunks = [];
    req.on('data', function onData(chunk) { chunks.push(chunk); });
    req.on('end', function onEnd() {
        var body = Buffer.concat(chunks);
        var status = Number(req.headers['x-want-status'] || 200);
        var reply = {
            id: m ? decodeURIComponent(m[1]) : null,
            handled_by: ringpop.whoami(),
            forwarded: forwarded
        };
        if (req.headers['x-echo']) {
            reply.method = req.method;
            reply.url = req.url;
            reply.headers = req.headers;
            reply.body = body.toString('base64');
        }
        var payload = JSON.stringify(reply);
        res.statusCode = status;
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-handled-by', ringpop.whoami());
        res.end(payload);
    });
}

// ringpop-node answers forwarded requests through a hammock@3.0.1 MockResponse,
// which looks for node's header store under the symbol 'outHeadersKey'; node >= 12
// calls it 'kOutHeaders', so the first res.setHeader() throws. Give the mock the
// store it lacks (null: node creates it on first use).
var kOutHeaders = (function findOutHeaders() {
    var probe = new http.ServerResponse(new http.IncomingMessage(null));
    var symbols = Object.getOwnPropertySymbols(probe);
    for (var i = 0; i < symbols.length; i++) {
        if (String(symbols[i]) === 'Symbol(kOutHeaders)') {
            return symbols[i];
        }
    }
    return null;
})();

// Requests forwarded to us by other nodes (node's /proxy/req receiver).
ringpop.on('request', function onForwarded(req, res) {
    if (kOutHeaders && res[kOutHeaders] === undefined) {
        res[kOutHeaders] = null;
    }
    answer(req, res, true);
});

var server = http.createServer(function onRequest(req, res) {
    var m = /^\/objects\/([^/?]+)/.exec(req.url);
    if (!m) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({whoami: ringpop.whoami(), ready: ringpop.isReady}));
        return;
    }
    if (ringpop.handleOrProxy(decodeURIComponent(m[1]), req, res)) {
        answer(req, res, false);
    }
});
server.keepAliveTimeout = 60000;

var parts = opts.listen.split(':');
tchannel.listen(Number(parts[1]), parts[0], function onListening() {
    ringpop.bootstrap(opts.hosts, function onBootstrap(err) {
        if (err) {
            console.error('bootstrap failed: ' + err.message);
            process.exit(1);
        }
        var h = opts.http.split(':');
        server.listen(Number(h[1]), h[0], function onHttp() {
            console.log('ready ' + ringpop.whoami() + ' http://' + opts.http);
        });
    });
});

function shutdown() {
    server.close();
    ringpop.selfEvict(function afterSelfEvict(err) {
        if (err) {
            console.error('self-eviction failed: ' + err);
            process.exit(1);
        }
        process.exit(0);
    });
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
