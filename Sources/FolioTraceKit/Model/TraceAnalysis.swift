/// One pass over a trace through the decoder and the lifecycle engine.
public struct TraceAnalysis: Sendable {
    public let path: String
    public let kernelRelease: String?
    public let cpus: Int
    public let catalog: EventCatalog
    public let report: LifecycleReport
    /// Per-CPU losses as the ring buffer reported them.
    public let lost: [LostEvents]

    /// Reads and models the whole trace.
    /// - Throws: `TraceFileError` for unreadable input.
    public init(path: String, options: LifecycleEngine.Options = .init()) throws(TraceFileError) {
        let file = try TraceFile(path: path)
        let catalog = try EventCatalog(file: file)
        let decoder = try EventDecoder(catalog: catalog, path: path)
        var engine = LifecycleEngine(catalog: catalog, savedCommands: file.savedCommands(), options: options)
        var records = try file.mergedRecords()
        while let r = try records.next() { engine.handle(r, decoder.decode(r)) }
        self.path = path
        kernelRelease = file.options.kernelRelease
        cpus = file.cpuBuffers.count
        self.catalog = catalog
        report = engine.finish()
        lost = records.lostEvents
    }
}
