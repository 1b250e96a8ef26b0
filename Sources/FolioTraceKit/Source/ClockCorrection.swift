/// How a record's ring-buffer clock becomes the time trace-cmd reports, for one CPU.
///
/// trace-cmd's `timestamp_calc()` (lib/trace-cmd/trace-input.c) does three things, in order:
/// a guest's file shifts its clock onto the host's (the TIME_SHIFT option, per guest CPU,
/// from samples taken while recording, interpolated between them when the file says so);
/// a file recorded with the `x86-tsc` clock and a TSC2NSEC option turns TSC ticks into
/// nanoseconds (`mul_u64_u32_shr(ts, mult, shift)`); then the OFFSET option is added. Without
/// this a KVM host or guest capture reads as ticks taken for nanoseconds: every time and
/// lifetime about 3x too long on a 3 GHz machine, and a guest's events hours off the host's.
struct ClockCorrection {
    /// The TIME_SHIFT samples of this CPU, sorted by time, equal times dropped.
    private let samples: [TimeShift.Sample]
    private let interpolate: Bool
    private let tscMult: UInt64
    private let tscShift: UInt64
    private let offset: Int64
    /// True when only the OFFSET option applies (the hot path's case).
    let isPlainOffset: Bool

    init(options: TraceOptions, cpu: Int) {
        samples = options.timeShift.flatMap { cpu < $0.cpus.count ? $0.cpus[cpu] : nil } ?? []
        interpolate = options.timeShift?.interpolates ?? false
        if let t = options.tsc2nsec, t.mult != 0, t.shift < 32 {
            tscMult = UInt64(t.mult)
            tscShift = UInt64(t.shift)
        } else {
            tscMult = 0
            tscShift = 0
        }
        offset = options.timestampOffset
        isPlainOffset = samples.isEmpty && tscMult == 0
    }

    /// The offset, when that is all this correction applies.
    var plainOffset: Int64? { isPlainOffset ? offset : nil }

    /// `ts` moved by the OFFSET option's signed `offset`, wrapping as trace-cmd's u64 does.
    @inline(__always)
    static func shifted(_ ts: UInt64, by offset: Int64) -> UInt64 {
        UInt64(bitPattern: Int64(bitPattern: ts) &+ offset)
    }

    /// The time trace-cmd reports for a record whose ring-buffer clock reads `ts`.
    @inline(__always)
    func apply(_ ts: UInt64) -> UInt64 {
        if isPlainOffset { return Self.shifted(ts, by: offset) }
        var t = ts
        if !samples.isEmpty { t = hostTime(t) }
        if tscMult != 0 {
            // mul_u64_u32_shr(): the product is 96 bits wide, taken in two halves.
            // (Swift's shifts bind tighter than its multiplications: the parentheses matter.)
            let low = ((t & 0xffff_ffff) &* tscMult) >> tscShift
            let high = ((t >> 32) &* tscMult) &<< (32 - tscShift)
            t = low &+ high
        }
        return Self.shifted(t, by: offset)
    }

    /// timestamp_host_sync(): the samples around `ts` (the first two or the last two outside
    /// their range), then timestamp_correction_calc().
    private func hostTime(_ ts: UInt64) -> UInt64 {
        if samples.count == 1 { return ts &+ UInt64(bitPattern: samples[0].offset) }
        // The last sample at or before ts, kept where a following one exists.
        var lo = 0
        var hi = samples.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if samples[mid].time <= ts { lo = mid } else { hi = mid - 1 }
        }
        let i = min(lo, samples.count - 2)
        let a = samples[i]
        let b = samples[i + 1]
        var correction = a.offset
        if interpolate {
            let span = Int64(bitPattern: b.time &- a.time)
            if span != 0 {
                let scaled = (Int64(bitPattern: ts) &- Int64(bitPattern: a.time)) &* (b.offset &- a.offset)
                correction = a.offset &+ (scaled &+ span / 2) / span
            }
        }
        let scaled = a.fraction < 64 ? ((ts &* a.scaling) >> a.fraction) : ts
        return UInt64(bitPattern: Int64(bitPattern: scaled) &+ correction)
    }
}

/// A guest trace's TIME_SHIFT option (trace-cmd's `TRACECMD_OPTION_TIME_SHIFT`): per guest CPU,
/// samples of the offset (and scaling) from the guest's clock to the host's.
public struct TimeShift: Sendable {
    struct Sample: Sendable {
        var time: UInt64
        var offset: Int64
        var scaling: UInt64
        var fraction: UInt64
    }

    /// The protocol flags; bit 0 is TRACECMD_TSYNC_FLAG_INTERPOLATE.
    public let flags: UInt32
    let cpus: [[Sample]]

    var interpolates: Bool { flags & 1 != 0 }

    /// Reads the option as tsync_cpu_offsets_load() does: the trace id and flags, the CPU
    /// count, per CPU its sample count and arrays of times, offsets and scalings, then (newer
    /// files) per CPU an array of scaling fraction bits. Counts are checked against the bytes
    /// there are before anything is sized by them.
    init(_ c: inout ByteCursor) throws(TraceProblem) {
        _ = try c.u64("time shift trace id")
        flags = try c.u32("time shift flags")
        let cpuCount = Int(try c.u32("time shift CPU count"))
        guard cpuCount <= TraceLimits.cpus else { throw TraceProblem(.corrupt("time shift for \(cpuCount) CPUs")) }
        var cpus: [[Sample]] = []
        for cpu in 0..<cpuCount {
            let count = Int(try c.u32("time shift CPU \(cpu) sample count"))
            guard count <= c.remaining / 24 else {
                throw TraceProblem(.corrupt("time shift CPU \(cpu): \(count) samples in \(c.remaining) bytes"))
            }
            var s = [Sample](repeating: Sample(time: 0, offset: 0, scaling: 1, fraction: 0), count: count)
            for i in 0..<count { s[i].time = try c.u64("time shift time") }
            for i in 0..<count { s[i].offset = Int64(bitPattern: try c.u64("time shift offset")) }
            for i in 0..<count { s[i].scaling = try c.u64("time shift scaling") }
            cpus.append(s)
        }
        if c.remaining > 0 {
            for cpu in 0..<cpuCount {
                for i in 0..<cpus[cpu].count { cpus[cpu][i].fraction = try c.u64("time shift fraction") }
            }
        }
        // Sorted by time, one sample per time (tsync_offset_load()).
        self.cpus = cpus.map { samples in
            var out: [Sample] = []
            for s in samples.sorted(by: { $0.time < $1.time }) where out.last?.time != s.time { out.append(s) }
            return out
        }
    }
}
