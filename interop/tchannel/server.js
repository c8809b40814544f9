#!/usr/bin/env node
'use strict';

// A tchannel-node server for the Python interop tests.
//
//   node server.js
//
// Listens on 127.0.0.1 (free port) and prints one JSON line {"hostPort": ...}.
// Service "node-svc" endpoints:
//   echo (raw)        answers arg2/arg3 unchanged
//   info (raw)        answers JSON describing the request as node saw it
//   app-error (raw)   answers not-ok with {"type","message"}
//   error (raw)       answers an error frame whose code name is arg3 (e.g. "Busy")
//   slow (raw)        answers after arg3 milliseconds
//   call-back (raw)   calls "py-svc"/"echo" on the peer named in arg3 and answers its arg3
//   json-echo (json)  answers {head, body} as received
//   json-fail (json)  answers not-ok with {"type":"node.failure","message":"nope"}
// Exits when stdin closes.

var common = require('./common');
var tc = common.loadTChannel();

var server = new tc.TChannel({logger: common.quietLogger('node-server')});
var sub = server.makeSubChannel({serviceName: 'node-svc'});
var json = tc.TChannelJSON({channel: server, logParseFailures: false});
var pySvc = server.makeSubChannel({serviceName: 'py-svc', peers: []});

sub.register('echo', function echo(req, res, arg2, arg3) {
    res.headers.as = 'raw';
    res.sendOk(arg2, arg3);
});

sub.register('info', function info(req, res, arg2, arg3) {
    res.headers.as = 'raw';
    res.sendOk('', JSON.stringify({
        headers: req.headers,
        checksumType: req.checksum ? req.checksum.type : null,
        ttl: req.timeout,
        remoteAddr: req.remoteAddr,
        arg2Sha: common.sha256(arg2),
        arg3Sha: common.sha256(arg3),
        arg2Len: arg2 ? arg2.length : 0,
        arg3Len: arg3 ? arg3.length : 0
    }));
});

sub.register('app-error', function appError(req, res) {
    res.headers.as = 'raw';
    res.sendNotOk('', JSON.stringify({type: 'node.app-error', message: 'it failed'}));
});

sub.register('error', function error(req, res, arg2, arg3) {
    res.sendError(String(arg3), 'node says ' + String(arg3));
});

sub.register('slow', function slow(req, res, arg2, arg3) {
    setTimeout(function later() {
        res.headers.as = 'raw';
        res.sendOk('', 'late');
    }, Number(String(arg3)) || 1000);
});

sub.register('call-back', function callBack(req, res, arg2, arg3) {
    var peer = String(arg3);
    pySvc.request({
        host: peer,
        serviceName: 'py-svc',
        hasNoParent: true,
        retryLimit: 1,
        trace: false,
        timeout: 2000,
        headers: {as: 'raw', cn: 'node-svc'}
    }).send('echo', 'from-node', 'hello python', function onResponse(err, pyRes, a2, a3) {
        res.headers.as = 'raw';
        if (err) {
            res.sendNotOk('', JSON.stringify({type: 'callback-failed', message: err.message}));
            return;
        }
        res.sendOk(a2, a3);
    });
});

json.register(sub, 'json-echo', {}, function jsonEcho(ctx, req, head, body, callback) {
    callback(null, {ok: true, head: head, body: body});
});

json.register(sub, 'json-fail', {}, function jsonFail(ctx, req, head, body, callback) {
    callback(null, {ok: false, body: {type: 'node.failure', message: 'nope'}});
});

server.listen(0, '127.0.0.1', function onListening() {
    process.stdout.write(JSON.stringify({hostPort: server.hostPort}) + '\n');
});

common.exitWithParent(function onParentGone() {
    process.exit(0);
});
