import FolioTraceKit

/// Record counts from libtracecmd, for checks of the command line's numbers.
enum FolioTraceKitTestsReference {
    static func recordCount(_ path: String) throws -> Int {
        let file = try TraceFile(path: path)
        guard let reader = ReferenceReader(path: path, instance: !file.primaryBuffer.name.isEmpty) else { return -1 }
        return file.cpuBuffers.reduce(0) { $0 + reader.records(cpu: Int32($1.cpu), withPayload: false).count }
    }
}
