/// All CPUs' records of a trace in timestamp order.
///
/// A k-way merge over the per-CPU streams; ties go to the lower CPU, as libtracecmd's
/// `tracecmd_read_next_data` does. With a handful of CPUs a linear scan for the minimum beats
/// a heap. A returned record's payload stays valid until the next call: the CPU it came from
/// is advanced only then, because advancing may decompress the next chunk into the same
/// buffer.
public struct MergedStream {
    public private(set) var streams: [CPUStream]
    /// Each CPU's next record, except `taken`'s while its run lasts: the first record of the
    /// run is there, stale, and the record last returned is its current head (`next` writes
    /// it back when the run ends).
    private var heads: [RawRecord?]
    private var taken = -1
    /// The CPU whose head would come first if `taken`'s were not there, and its timestamp
    /// (`Int.max` when no other CPU has a record): set by the last scan of every head, and
    /// still true while only `taken` advances. A CPU's records come in runs, so most calls
    /// compare the new head with this one instead of scanning them all (docs/performance.md).
    private var runnerUp = Int.max
    private var runnerUpTS = UInt64.max
    private let path: String

    init(file: TraceFile) throws(TraceFileError) {
        path = file.path
        do throws(TraceProblem) {
            streams = try file.cpuBuffers.map { (b) throws(TraceProblem) in try CPUStream(buffer: b, file: file) }
            heads = []
            heads.reserveCapacity(streams.count)
            for i in streams.indices { heads.append(try streams[i].nextRecord()) }
        } catch {
            throw TraceFileError(path: file.path, problem: error.problem)
        }
    }

    /// The next record across all CPUs, or nil when every CPU is done.
    @inline(__always)
    public mutating func next() throws(TraceFileError) -> RawRecord? {
        if taken >= 0 {
            let head: RawRecord?
            do throws(TraceProblem) {
                head = try streams[taken].nextRecord()
            } catch {
                throw TraceFileError(path: path, problem: error.problem)
            }
            // Still first: earlier than every other CPU's head, or as early and a lower CPU.
            // `heads[taken]` is written only when the run ends: a write per record was a
            // second uniqueness check per record on the reader's thread.
            if let h = head, h.timestamp < runnerUpTS || (h.timestamp == runnerUpTS && taken < runnerUp) {
                return h
            }
            heads[taken] = head
            taken = -1
        }
        guard let (best, second) = Self.earliestTwo(heads) else { return nil }
        taken = best
        runnerUp = second
        runnerUpTS = second == Int.max ? .max : heads[second]!.timestamp
        return heads[best]
    }

    /// The CPU whose next record comes first (the lower CPU on a tie), and the one that would
    /// come first without it (`Int.max` when none); nil when all are done.
    @inline(__always)
    static func earliestTwo(_ heads: [RawRecord?]) -> (best: Int, second: Int)? {
        var best = -1
        var bestTS = UInt64.max
        var second = Int.max
        var secondTS = UInt64.max
        for i in heads.indices {
            guard let h = heads[i] else { continue }
            if best < 0 || h.timestamp < bestTS {
                if best >= 0 {
                    second = best
                    secondTS = bestTS
                }
                best = i
                bestTS = h.timestamp
            } else if second == Int.max || h.timestamp < secondTS {
                second = i
                secondTS = h.timestamp
            }
        }
        return best >= 0 ? (best, second) : nil
    }

    /// The CPU whose next record comes first (the lower CPU on a tie), nil when all are done.
    @inline(__always)
    static func earliest(_ heads: [RawRecord?]) -> Int? {
        var best = -1
        var bestTS = UInt64.max
        for i in heads.indices {
            if let h = heads[i], best < 0 || h.timestamp < bestTS {
                best = i
                bestTS = h.timestamp
            }
        }
        return best >= 0 ? best : nil
    }

    /// Losses per CPU seen so far (complete once the stream has ended).
    public var lostEvents: [LostEvents] { streams.map(\.lost) }
    /// The fraction of the trace's data read so far (by file bytes, compressed where the
    /// data is), for progress reports.
    public var fractionRead: Double {
        let total = streams.reduce(0) { $0 + $1.bytesTotal }
        return total == 0 ? 1 : Double(streams.reduce(0) { $0 + $1.bytesRead }) / Double(total)
    }
    /// Pages skipped as damaged so far.
    public var damagedPages: Int { streams.reduce(0) { $0 + $1.damagedPages } }
    /// The damage seen so far, per CPU: cut or undecompressable chunks, and pages whose
    /// records ran past their commit size (skipped, as libtraceevent's kbuffer stops there).
    public var damageNotes: [String] {
        streams.flatMap { CPUStream.damageNotes(cpu: $0.cpu, damage: $0.damage, damagedPages: $0.damagedPages) }
    }
}

extension CPUStream {
    /// The sentences that name one CPU's damage, as the reports print them: the merged
    /// stream's and the per-CPU count's (`CPUInventory`) come from here alike.
    static func damageNotes(cpu: Int32, damage: String?, damagedPages: Int) -> [String] {
        [
            damage.map { "CPU \(cpu): \($0)" },
            damagedPages > 0
                ? "CPU \(cpu): \(damagedPages) ring-buffer page(s) with records past their commit size, their rest skipped"
                : nil,
        ].compactMap { $0 }
    }
}

extension TraceFile {
    /// The top instance's records of every CPU, merged in timestamp order.
    public func mergedRecords() throws(TraceFileError) -> MergedStream {
        try MergedStream(file: self)
    }

    /// One stream per CPU, each in that CPU's own order.
    public func cpuStreams() throws(TraceFileError) -> [CPUStream] {
        do throws(TraceProblem) {
            return try cpuBuffers.map { (b) throws(TraceProblem) in try CPUStream(buffer: b, file: self) }
        } catch {
            throw TraceFileError(path: path, problem: error.problem)
        }
    }
}
