#!/usr/bin/env node
'use strict';

// tchannel-node's own client and server doing what bench/tchannel.py measures:
// small JSON calls (as=json) over one connection.
//
//   node bench.js serve
//       listen on 127.0.0.1 (free port), print {"hostPort": ...}, serve
//       "bench"/"ping" until stdin closes.
//   node bench.js client <host:port> <calls> <concurrency> <warmup> <rounds>
//       after <warmup> calls, <rounds> times make <calls> calls with
//       <concurrency> in flight; print the best round as
//       {"calls", "seconds", "callsPerSec", "p50Us", "p99Us", "cpuUs"}
//       (cpuUs: this process's CPU time per call).
//   node bench.js both <calls> <concurrency> <warmup> <rounds>
//       the same with server and client in this one process.

var common = require('./common');
var tc = common.loadTChannel();

var REQUEST_BODY = {
    checksum: 3184296888,
    changes: [],
    source: '127.0.0.1:3001',
    sourceIncarnationNumber: 1414142122276,
    app: 'ringpop'
};

function startServer(onListening) {
    var server = new tc.TChannel({logger: common.quietLogger('bench-server')});
    var sub = server.makeSubChannel({serviceName: 'bench'});
    var json = tc.TChannelJSON({channel: server, logParseFailures: false});
    json.register(sub, 'ping', {}, function ping(ctx, req, head, body, callback) {
        callback(null, {ok: true, head: null, body: {changes: [], checksum: body.checksum}});
    });
    server.listen(0, '127.0.0.1', function listening() {
        onListening(server.hostPort);
    });
}

function serve() {
    startServer(function onListening(hostPort) {
        process.stdout.write(JSON.stringify({hostPort: hostPort}) + '\n');
    });
    common.exitWithParent(function onParentGone() {
        process.exit(0);
    });
}

function client(peer, calls, concurrency, warmup, rounds) {
    var channel = new tc.TChannel({logger: common.quietLogger('bench-client')});
    var sub = channel.makeSubChannel({serviceName: 'bench', peers: [peer]});
    var json = tc.TChannelJSON({channel: sub, logParseFailures: false});
    var best = null;

    function one(cb) {
        json.request({
            serviceName: 'bench',
            host: peer,
            hasNoParent: true,
            retryLimit: 1,
            trace: false,
            timeout: 5000,
            headers: {cn: 'bench'}
        }).send('ping', null, REQUEST_BODY, function onResponse(err, res) {
            if (err || !res.ok) {
                process.stderr.write('bench call failed: ' + (err ? err.message : 'not ok') + '\n');
                process.exit(1);
            }
            cb();
        });
    }

    function runWarmup(remaining, cb) {
        if (remaining === 0) {
            cb();
            return;
        }
        one(function next() {
            runWarmup(remaining - 1, cb);
        });
    }

    function round(cb) {
        var latencies = new Float64Array(calls);
        var started = 0;
        var done = 0;
        var t0 = process.hrtime.bigint();
        var cpu0 = process.cpuUsage();

        function worker() {
            if (started >= calls) {
                return;
            }
            var index = started++;
            var begin = process.hrtime.bigint();
            one(function next() {
                latencies[index] = Number(process.hrtime.bigint() - begin) / 1000;
                done++;
                if (done === calls) {
                    var seconds = Number(process.hrtime.bigint() - t0) / 1e9;
                    var cpu = process.cpuUsage(cpu0);
                    var sorted = Array.prototype.slice.call(latencies).sort(function cmp(a, b) {
                        return a - b;
                    });
                    cb({
                        calls: calls,
                        seconds: seconds,
                        callsPerSec: calls / seconds,
                        p50Us: sorted[Math.floor(calls * 0.5)],
                        p99Us: sorted[Math.min(calls - 1, Math.floor(calls * 0.99))],
                        cpuUs: (cpu.user + cpu.system) / calls
                    });
                } else {
                    worker();
                }
            });
        }

        for (var i = 0; i < concurrency; i++) {
            worker();
        }
    }

    function rounds_(remaining) {
        if (remaining === 0) {
            process.stdout.write(JSON.stringify(best) + '\n');
            process.exit(0);
        }
        round(function onRound(result) {
            if (best === null || result.callsPerSec > best.callsPerSec) {
                best = result;
            }
            rounds_(remaining - 1);
        });
    }

    sub.waitForIdentified({host: peer}, function onIdentified(err) {
        if (err) {
            process.stderr.write('bench: cannot connect to ' + peer + ': ' + err.message + '\n');
            process.exit(1);
        }
        runWarmup(warmup, function start() {
            rounds_(rounds);
        });
    });
}

var mode = process.argv[2];
if (mode === 'serve') {
    serve();
} else if (mode === 'client') {
    client(process.argv[3], Number(process.argv[4]), Number(process.argv[5]),
        Number(process.argv[6] || 0), Number(process.argv[7] || 1));
} else if (mode === 'both') {
    startServer(function onListening(hostPort) {
        client(hostPort, Number(process.argv[3]), Number(process.argv[4]),
            Number(process.argv[5] || 0), Number(process.argv[6] || 1));
    });
} else {
    process.stderr.write('usage: bench.js serve | client <host:port> <calls> <concurrency> ' +
        '<warmup> <rounds> | both <calls> <concurrency> <warmup> <rounds>\n');
    process.exit(64);
}
