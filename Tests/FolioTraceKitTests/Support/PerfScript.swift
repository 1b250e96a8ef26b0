import Foundation

/// `perf script` (Debian's linux-perf), the reference reader of perf.data files.
enum PerfScript {
    static let binary = "/usr/bin/perf"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    /// One tracepoint sample as `perf script -F trace:cpu,time,event,trace --ns` prints it (the
    /// `trace:` prefix leaves other events, such as cpu-clock, in their default form, which
    /// `parse` skips).
    struct Sample {
        var cpu: Int32
        var timestamp: UInt64
        var event: String
        /// The event's fields as its print format renders them.
        var text: Substring
    }

    /// Every sample of `path`, in perf's (time) order.
    static func samples(_ path: String) throws -> [Sample] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["script", "-i", path, "--ns", "-F", "trace:cpu,time,event,trace"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n").compactMap(parse)
    }

    /// "[001] 16310.890366673:   kmem:mm_page_alloc: page=0x... pfn=0x..."
    private static func parse(_ line: Substring) -> Sample? {
        guard line.hasPrefix("["), let close = line.firstIndex(of: "]"),
            let cpu = Int32(line[line.index(after: line.startIndex)..<close])
        else { return nil }
        let rest = line[line.index(after: close)...].drop { $0 == " " }
        guard let colon = rest.firstIndex(of: ":") else { return nil }
        let time = rest[..<colon].split(separator: ".")
        guard time.count == 2, let s = UInt64(time[0]), let ns = UInt64(time[1]) else { return nil }
        let afterTime = rest[rest.index(after: colon)...].drop { $0 == " " }
        // the event name is "system:name:" (one colon inside)
        guard let first = afterTime.firstIndex(of: ":"),
            let second = afterTime[afterTime.index(after: first)...].firstIndex(of: ":")
        else { return nil }
        return Sample(
            cpu: cpu,
            timestamp: s * 1_000_000_000 + ns,
            event: String(afterTime[..<second]),
            text: afterTime[afterTime.index(after: second)...]
        )
    }
}
