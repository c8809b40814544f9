'use strict';

// Helpers shared by the tchannel interop and bench scripts.
//
// tchannel is resolved from $TCHANNEL_NODE_MODULES (a node_modules directory,
// e.g. interop/node/node_modules) when set, else through NODE_PATH / the usual
// node resolution.

var crypto = require('crypto');
var path = require('path');

function requireModule(name) {
    var dir = process.env.TCHANNEL_NODE_MODULES;
    if (dir) {
        return require(path.join(dir, name));
    }
    return require(name);
}

function loadTChannel() {
    return {
        TChannel: requireModule('tchannel'),
        TChannelJSON: requireModule('tchannel/as/json')
    };
}

// Deterministic test bytes; ringpop.tchannel tests compute the same sequence.
function payload(size, seed) {
    var buf = Buffer.alloc(size);
    for (var i = 0; i < size; i++) {
        buf[i] = (i * 31 + seed) & 0xff;
    }
    return buf;
}

function sha256(buf) {
    return crypto.createHash('sha256').update(buf || Buffer.alloc(0)).digest('hex');
}

function quietLogger(prefix) {
    function noop() {}
    function toStderr(level) {
        return function log(msg, info) {
            var extra = '';
            try {
                extra = info ? ' ' + JSON.stringify(info) : '';
            } catch (e) {
                extra = ' ' + String(info);
            }
            process.stderr.write(prefix + ' ' + level + ': ' + msg + extra + '\n');
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

// Exit when the parent closes our stdin (or dies): no orphaned node processes.
function exitWithParent(onExit) {
    process.stdin.on('end', onExit);
    process.stdin.on('close', onExit);
    process.stdin.resume();
}

function errorInfo(err) {
    return {
        message: err.message,
        type: err.type || null,
        codeName: err.codeName || null,
        isErrorFrame: Boolean(err.isErrorFrame)
    };
}

module.exports = {
    errorInfo: errorInfo,
    exitWithParent: exitWithParent,
    loadTChannel: loadTChannel,
    payload: payload,
    quietLogger: quietLogger,
    requireModule: requireModule,
    sha256: sha256
};
