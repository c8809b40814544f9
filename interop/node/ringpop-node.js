#!/usr/bin/env node
'use strict';

// Runs ringpop-node exactly as the ringpop conformance harness does: this is
// ringpop's own main.js (the `ringpop` bin of ringpop@10.21.0) with its CLI:
//
//   node ringpop-node.js --listen=127.0.0.1:3000 --hosts=hosts.json \
//       [--suspect-period=ms] [--faulty-period=ms] [--tombstone-period=ms]
//
// main.js creates RingPop with isCrossPlatform: true (FarmHash Fingerprint32
// for the ring and the membership checksum, like ringpop-go) and
// useLatestHash32: false, serves the ringpop TChannel endpoints on --listen,
// bootstraps from the JSON array of "host:port" strings in --hosts, and
// self-evicts on SIGTERM/SIGINT before exiting.
//
// It is only wrapped, not copied, so the pinned package defines the behaviour.
// (commander, which main.js needs, is a devDependency of ringpop and is
// therefore a direct dependency of interop/node/package.json.)

require('ringpop/main.js')(process.argv);
