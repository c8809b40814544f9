#!/usr/bin/env node
'use strict';

// A tchannel-node client driven by JSON lines on stdin, for the Python interop tests.
//
//   node client.js
//
// Each input line is a call:
//   {"id": 1, "peer": "127.0.0.1:4000", "service": "py-svc", "endpoint": "echo",
//    "scheme": "raw"|"json", "checksumType": 0..3, "timeout": 2000,
//    "arg2": {"size": n, "seed": s} | {"text": "..."},     (raw)
//    "arg3": {"size": n, "seed": s} | {"text": "..."},     (raw)
//    "head": <json>, "body": <json>}                        (json)
// and produces one output line:
//   {"id": 1, "ok": true, "arg2Len": .., "arg2Sha": .., "arg3Len": .., "arg3Sha": ..,
//    "arg3Text": "..." (when short), "headers": {...}}             (raw)
//   {"id": 1, "ok": true|false, "head": .., "body": ..}           (json)
//   {"id": 1, "error": {"message", "type", "codeName", "isErrorFrame"}}
// The client never listens, so it identifies itself as 0.0.0.0:0.
// Exits when stdin closes.

var readline = require('readline');
var common = require('./common');
var tc = common.loadTChannel();
var Checksum = common.requireModule('tchannel/v2/checksum');

var client = new tc.TChannel({logger: common.quietLogger('node-client')});
var json = tc.TChannelJSON({channel: client, logParseFailures: false});

var subChannels = Object.create(null);

// Requests must go through a sub channel named after the called service.
function subChannel(service) {
    if (!subChannels[service]) {
        subChannels[service] = client.makeSubChannel({serviceName: service, peers: []});
    }
    return subChannels[service];
}

function argBuffer(spec) {
    if (!spec) {
        return Buffer.alloc(0);
    }
    if (typeof spec.text === 'string') {
        return Buffer.from(spec.text, 'utf8');
    }
    return common.payload(spec.size || 0, spec.seed || 0);
}

function reply(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function requestOptions(call) {
    var opts = {
        host: call.peer,
        serviceName: call.service,
        hasNoParent: true,
        retryLimit: 1,
        trace: false,
        timeout: call.timeout || 5000,
        headers: {as: call.scheme || 'raw', cn: 'node-interop'}
    };
    if (typeof call.checksumType === 'number') {
        opts.checksumType = call.checksumType;
        // checksumType 0 reads as "unset" (node then picks CRC-32C): pass the object
        opts.checksum = new Checksum(call.checksumType);
    }
    return opts;
}

function doCall(call) {
    // tchannel-node only sends on a connection whose handshake is done.
    subChannel(call.service).waitForIdentified({host: call.peer}, function onIdentified(err) {
        if (err) {
            reply({id: call.id, error: common.errorInfo(err)});
            return;
        }
        sendCall(call);
    });
}

function sendCall(call) {
    if (call.scheme === 'json') {
        json.send(subChannel(call.service).request(requestOptions(call)),
            call.endpoint, call.head, call.body, function onJson(err, res) {
                if (err) {
                    reply({id: call.id, error: common.errorInfo(err)});
                    return;
                }
                var body = res.body;
                if (!res.ok && body) {
                    body = {type: body.type, message: body.message};
                }
                reply({id: call.id, ok: res.ok, head: res.head, body: body});
            });
        return;
    }
    subChannel(call.service).request(requestOptions(call)).send(
        call.endpoint, argBuffer(call.arg2), argBuffer(call.arg3),
        function onRaw(err, res, arg2, arg3) {
            if (err) {
                reply({id: call.id, error: common.errorInfo(err)});
                return;
            }
            var out = {
                id: call.id,
                ok: res.ok,
                headers: res.headers,
                checksumType: res.checksum ? res.checksum.type : null,
                arg2Len: arg2 ? arg2.length : 0,
                arg3Len: arg3 ? arg3.length : 0,
                arg2Sha: common.sha256(arg2),
                arg3Sha: common.sha256(arg3)
            };
            if (arg3 && arg3.length <= 4096) {
                out.arg3Text = String(arg3);
            }
            reply(out);
        });
}

var lines = readline.createInterface({input: process.stdin});
lines.on('line', function onLine(line) {
    if (!line.trim()) {
        return;
    }
    var call;
    try {
        call = JSON.parse(line);
    } catch (e) {
        reply({id: null, error: {message: 'bad input line: ' + e.message}});
        return;
    }
    doCall(call);
});
lines.on('close', function onClose() {
    setTimeout(function exit() {
        process.exit(0);
    }, 100);
});
