'use strict';

// Local stand-in for the `metrics@0.1.x` package, which the npm registry no
// longer serves but tchannel@3 and ringpop@10 still declare as a dependency.
//
// It implements the API surface those two packages (their runtime, tests and
// benchmarks) use:
//
//   ringpop/lib/gossip/index.js   new Histogram(); update(v); percentiles([0.5])['0.5']
//   ringpop/index.js              new Meter(); mark(); printObj().m1;
//                                 m1Rate/m5Rate/m15Rate.stop(); Histogram#printObj()
//   tchannel tests/benchmarks     Histogram#printObj() fields min/max/sum/mean/
//                                 median/variance/std_dev/p75/p95/p99/p999/count
//
// plus Counter and Timer for completeness. Everything is computed for real:
// histograms keep exact count/min/max/sum/variance and a bounded uniform
// reservoir sample for percentiles; meters keep exponentially weighted moving
// averages over 1, 5 and 15 minutes. No background timers are used (rates are
// brought up to date lazily), so a process holding these objects can exit.

var DEFAULT_RESERVOIR_SIZE = 1028;
var TICK_INTERVAL_MS = 5000;

function now() {
    return Date.now();
}

// ---------------------------------------------------------------------------
// Reservoir: a bounded uniform random sample (Vitter's algorithm R).

function UniformSample(size) {
    this.limit = size || DEFAULT_RESERVOIR_SIZE;
    this.clear();
}

UniformSample.prototype.clear = function clear() {
    this.values = [];
    this.seen = 0;
};

UniformSample.prototype.update = function update(value) {
    this.seen += 1;
    if (this.values.length < this.limit) {
        this.values.push(value);
        return;
    }
    var slot = Math.floor(Math.random() * this.seen);
    if (slot < this.limit) {
        this.values[slot] = value;
    }
};

UniformSample.prototype.getValues = function getValues() {
    return this.values.slice();
};

UniformSample.prototype.size = function size() {
    return this.values.length;
};

// ---------------------------------------------------------------------------
// Histogram

function Histogram(sample) {
    if (!(this instanceof Histogram)) {
        return new Histogram(sample);
    }
    this.type = 'histogram';
    this.sample = sample || new UniformSample(DEFAULT_RESERVOIR_SIZE);
    this.clear();
}

Histogram.createUniformHistogram = function createUniformHistogram(size) {
    return new Histogram(new UniformSample(size));
};

Histogram.prototype.clear = function clear() {
    this.sample.clear();
    this.count = 0;
    this.sum = 0;
    this.min = null;
    this.max = null;
    // Welford's running mean / sum of squared deviations.
    this.runningMean = 0;
    this.runningM2 = 0;
};

Histogram.prototype.update = function update(value) {
    value = Number(value);
    if (!isFinite(value)) {
        return;
    }
    this.count += 1;
    this.sum += value;
    if (this.min === null || value < this.min) {
        this.min = value;
    }
    if (this.max === null || value > this.max) {
        this.max = value;
    }
    var delta = value - this.runningMean;
    this.runningMean += delta / this.count;
    this.runningM2 += delta * (value - this.runningMean);
    this.sample.update(value);
};

Histogram.prototype.mean = function mean() {
    return this.count === 0 ? null : this.sum / this.count;
};

// Sample variance (n - 1 denominator); null with fewer than two values.
Histogram.prototype.variance = function variance() {
    return this.count < 2 ? null : this.runningM2 / (this.count - 1);
};

Histogram.prototype.stdDev = function stdDev() {
    var v = this.variance();
    return v === null ? null : Math.sqrt(v);
};

// percentiles([0.5, 0.99]) -> {'0.5': x, '0.99': y}, computed from the
// reservoir with linear interpolation between closest ranks at p * (n + 1).
Histogram.prototype.percentiles = function percentiles(wanted) {
    wanted = wanted || [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.999];
    var values = this.sample.getValues().sort(function byNumber(a, b) {
        return a - b;
    });
    var n = values.length;
    var result = {};
    for (var i = 0; i < wanted.length; i++) {
        var p = wanted[i];
        var key = String(p);
        if (n === 0) {
            result[key] = null;
            continue;
        }
        var pos = p * (n + 1);
        if (pos < 1) {
            result[key] = values[0];
        } else if (pos >= n) {
            result[key] = values[n - 1];
        } else {
            var lower = values[Math.floor(pos) - 1];
            var upper = values[Math.floor(pos)];
            result[key] = lower + (pos - Math.floor(pos)) * (upper - lower);
        }
    }
    return result;
};

Histogram.prototype.values = function values() {
    return this.sample.getValues();
};

Histogram.prototype.printObj = function printObj() {
    var p = this.percentiles([0.5, 0.75, 0.95, 0.99, 0.999]);
    return {
        type: 'histogram',
        min: this.min,
        max: this.max,
        sum: this.sum,
        variance: this.variance(),
        mean: this.mean(),
        std_dev: this.stdDev(),
        count: this.count,
        median: p['0.5'],
        p75: p['0.75'],
        p95: p['0.95'],
        p99: p['0.99'],
        p999: p['0.999']
    };
};

// ---------------------------------------------------------------------------
// ExponentiallyWeightedMovingAverage: a rate (events per second) decaying
// over `minutes`, updated every TICK_INTERVAL_MS. Ticks are applied lazily
// whenever the average is updated or read, so no timer is kept running.

function ExponentiallyWeightedMovingAverage(minutes, tickIntervalMs) {
    this.tickInterval = tickIntervalMs || TICK_INTERVAL_MS;
    this.alpha = 1 - Math.exp(-this.tickInterval / (minutes * 60 * 1000));
    this.uncounted = 0;
    this.currentRate = 0; // events per millisecond
    this.initialized = false;
    this.lastTick = now();
    this.stopped = false;
}

ExponentiallyWeightedMovingAverage.prototype.catchUp = function catchUp() {
    if (this.stopped) {
        return;
    }
    var t = now();
    var ticks = Math.floor((t - this.lastTick) / this.tickInterval);
    for (var i = 0; i < ticks; i++) {
        this.tick();
    }
    this.lastTick += ticks * this.tickInterval;
};

ExponentiallyWeightedMovingAverage.prototype.update = function update(n) {
    this.catchUp();
    this.uncounted += n;
};

ExponentiallyWeightedMovingAverage.prototype.tick = function tick() {
    var instantRate = this.uncounted / this.tickInterval;
    this.uncounted = 0;
    if (this.initialized) {
        this.currentRate += this.alpha * (instantRate - this.currentRate);
    } else {
        this.currentRate = instantRate;
        this.initialized = true;
    }
};

// Rate in events per second.
ExponentiallyWeightedMovingAverage.prototype.rate = function rate() {
    this.catchUp();
    return this.currentRate * 1000;
};

// Freeze the average (ringpop calls this on destroy).
ExponentiallyWeightedMovingAverage.prototype.stop = function stop() {
    this.catchUp();
    this.stopped = true;
};

// ---------------------------------------------------------------------------
// Meter

function Meter() {
    if (!(this instanceof Meter)) {
        return new Meter();
    }
    this.type = 'meter';
    this.m1Rate = new ExponentiallyWeightedMovingAverage(1);
    this.m5Rate = new ExponentiallyWeightedMovingAverage(5);
    this.m15Rate = new ExponentiallyWeightedMovingAverage(15);
    this.count = 0;
    this.startTime = now();
}

Meter.prototype.mark = function mark(n) {
    if (n === undefined) {
        n = 1;
    }
    this.count += n;
    this.m1Rate.update(n);
    this.m5Rate.update(n);
    this.m15Rate.update(n);
};

Meter.prototype.oneMinuteRate = function oneMinuteRate() {
    return this.m1Rate.rate();
};

Meter.prototype.fiveMinuteRate = function fiveMinuteRate() {
    return this.m5Rate.rate();
};

Meter.prototype.fifteenMinuteRate = function fifteenMinuteRate() {
    return this.m15Rate.rate();
};

// Average events per second since the meter was created.
Meter.prototype.meanRate = function meanRate() {
    var elapsed = now() - this.startTime;
    return elapsed <= 0 ? 0 : (this.count / elapsed) * 1000;
};

Meter.prototype.rates = function rates() {
    return {
        1: this.oneMinuteRate(),
        5: this.fiveMinuteRate(),
        15: this.fifteenMinuteRate(),
        mean: this.meanRate()
    };
};

Meter.prototype.printObj = function printObj() {
    return {
        type: 'meter',
        count: this.count,
        m1: this.oneMinuteRate(),
        m5: this.fiveMinuteRate(),
        m15: this.fifteenMinuteRate(),
        mean: this.meanRate(),
        unit: 'seconds'
    };
};

// ---------------------------------------------------------------------------
// Counter

function Counter() {
    if (!(this instanceof Counter)) {
        return new Counter();
    }
    this.type = 'counter';
    this.count = 0;
}

Counter.prototype.inc = function inc(n) {
    this.count += n === undefined ? 1 : n;
};

Counter.prototype.dec = function dec(n) {
    this.count -= n === undefined ? 1 : n;
};

Counter.prototype.clear = function clear() {
    this.count = 0;
};

Counter.prototype.printObj = function printObj() {
    return {type: 'counter', count: this.count};
};

// ---------------------------------------------------------------------------
// Timer: a histogram of durations plus a meter of how often they occur.

function Timer() {
    if (!(this instanceof Timer)) {
        return new Timer();
    }
    this.type = 'timer';
    this.meter = new Meter();
    this.histogram = new Histogram();
}

Timer.prototype.update = function update(duration) {
    this.histogram.update(duration);
    this.meter.mark();
};

// Time a callback-less section: var stop = timer.start(); ...; stop();
Timer.prototype.start = function start() {
    var self = this;
    var begin = now();
    return function stopTimer() {
        var elapsed = now() - begin;
        self.update(elapsed);
        return elapsed;
    };
};

Timer.prototype.count = function count() {
    return this.histogram.count;
};

Timer.prototype.min = function min() {
    return this.histogram.min;
};

Timer.prototype.max = function max() {
    return this.histogram.max;
};

Timer.prototype.mean = function mean() {
    return this.histogram.mean();
};

Timer.prototype.stdDev = function stdDev() {
    return this.histogram.stdDev();
};

Timer.prototype.percentiles = function percentiles(wanted) {
    return this.histogram.percentiles(wanted);
};

Timer.prototype.values = function values() {
    return this.histogram.values();
};

Timer.prototype.oneMinuteRate = function oneMinuteRate() {
    return this.meter.oneMinuteRate();
};

Timer.prototype.fiveMinuteRate = function fiveMinuteRate() {
    return this.meter.fiveMinuteRate();
};

Timer.prototype.fifteenMinuteRate = function fifteenMinuteRate() {
    return this.meter.fifteenMinuteRate();
};

Timer.prototype.meanRate = function meanRate() {
    return this.meter.meanRate();
};

Timer.prototype.rates = function rates() {
    return this.meter.rates();
};

Timer.prototype.clear = function clear() {
    this.histogram.clear();
    this.meter = new Meter();
};

Timer.prototype.printObj = function printObj() {
    return {
        type: 'timer',
        duration: this.histogram.printObj(),
        rate: this.meter.printObj()
    };
};

module.exports = {
    Histogram: Histogram,
    Meter: Meter,
    Counter: Counter,
    Timer: Timer,
    ExponentiallyWeightedMovingAverage: ExponentiallyWeightedMovingAverage,
    UniformSample: UniformSample
};
