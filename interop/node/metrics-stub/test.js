'use strict';

// Self-test of the metrics stub: node --test interop/node/metrics-stub/test.js

var test = require('node:test');
var assert = require('node:assert');
var metrics = require('./index.js');

function withClock(start, fn) {
    var realNow = Date.now;
    var t = start;
    Date.now = function fakeNow() {
        return t;
    };
    try {
        fn(function advance(ms) {
            t += ms;
        });
    } finally {
        Date.now = realNow;
    }
}

test('histogram: exact summary statistics', function () {
    var h = new metrics.Histogram();
    [4, 1, 3, 2, 5].forEach(function (v) {
        h.update(v);
    });
    var o = h.printObj();
    assert.strictEqual(o.type, 'histogram');
    assert.strictEqual(o.count, 5);
    assert.strictEqual(o.min, 1);
    assert.strictEqual(o.max, 5);
    assert.strictEqual(o.sum, 15);
    assert.strictEqual(o.mean, 3);
    assert.strictEqual(o.median, 3);
    assert.strictEqual(o.variance, 2.5);
    assert.ok(Math.abs(o.std_dev - Math.sqrt(2.5)) < 1e-12);
});

test('histogram: percentiles interpolate and are keyed by string', function () {
    var h = new metrics.Histogram();
    for (var i = 1; i <= 100; i++) {
        h.update(i);
    }
    var p = h.percentiles([0.5, 0.75, 0.99, 0.999]);
    assert.strictEqual(p['0.5'], 50.5);
    assert.strictEqual(p['0.75'], 75.75);
    assert.ok(Math.abs(p['0.99'] - 99.99) < 1e-9);
    assert.strictEqual(p['0.999'], 100);
    assert.strictEqual(h.percentiles([0.5])['0.5'], h.printObj().median);
});

test('histogram: empty and single-value cases', function () {
    var h = new metrics.Histogram();
    assert.strictEqual(h.mean(), null);
    assert.strictEqual(h.percentiles([0.5])['0.5'], null);
    h.update(200);
    assert.strictEqual(h.percentiles([0.5])['0.5'], 200);
    assert.strictEqual(h.variance(), null);
    h.clear();
    assert.strictEqual(h.count, 0);
});

test('histogram: reservoir stays bounded but summary stays exact', function () {
    var h = metrics.Histogram.createUniformHistogram(50);
    for (var i = 0; i < 10000; i++) {
        h.update(i % 100);
    }
    assert.strictEqual(h.values().length, 50);
    assert.strictEqual(h.count, 10000);
    assert.strictEqual(h.min, 0);
    assert.strictEqual(h.max, 99);
    assert.strictEqual(h.mean(), 49.5);
    var median = h.percentiles([0.5])['0.5'];
    assert.ok(median >= 0 && median <= 99);
});

test('meter: counts and decaying rates', function () {
    withClock(1000000, function (advance) {
        var m = new metrics.Meter();
        assert.strictEqual(m.printObj().m1, 0);
        for (var s = 0; s < 60; s++) {
            // 10 events per second for a minute
            m.mark(10);
            advance(1000);
        }
        var o = m.printObj();
        assert.strictEqual(o.type, 'meter');
        assert.strictEqual(o.count, 600);
        assert.ok(Math.abs(o.m1 - 10) < 0.5, 'm1 ' + o.m1);
        assert.ok(Math.abs(o.m5 - 10) < 0.5, 'm5 ' + o.m5);
        assert.ok(Math.abs(o.mean - 10) < 1e-9, 'mean ' + o.mean);
        var rates = m.rates();
        assert.strictEqual(rates[1], o.m1);
        // After a quiet minute the 1-minute rate has decayed far more than the 15-minute one.
        advance(60000);
        assert.ok(m.oneMinuteRate() < 10 * Math.exp(-1) + 0.5, 'm1 decays');
        assert.ok(m.fifteenMinuteRate() > m.oneMinuteRate());
        // stop() freezes the averages (ringpop stops them on destroy).
        m.m1Rate.stop();
        var frozen = m.oneMinuteRate();
        advance(60000);
        assert.strictEqual(m.oneMinuteRate(), frozen);
    });
});

test('counter', function () {
    var c = new metrics.Counter();
    c.inc();
    c.inc(5);
    c.dec(2);
    assert.deepStrictEqual(c.printObj(), {type: 'counter', count: 4});
    c.clear();
    assert.strictEqual(c.count, 0);
});

test('timer: histogram of durations plus a rate', function () {
    withClock(5000, function (advance) {
        var t = new metrics.Timer();
        var stop = t.start();
        advance(25);
        assert.strictEqual(stop(), 25);
        t.update(75);
        var o = t.printObj();
        assert.strictEqual(o.type, 'timer');
        assert.strictEqual(o.duration.count, 2);
        assert.strictEqual(o.duration.mean, 50);
        assert.strictEqual(o.rate.count, 2);
        assert.strictEqual(t.count(), 2);
        assert.strictEqual(t.min(), 25);
        assert.strictEqual(t.max(), 75);
    });
});
