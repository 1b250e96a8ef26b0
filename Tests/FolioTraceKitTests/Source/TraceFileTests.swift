import FolioTraceKit
import Testing

/// Metadata read from the real fixtures.
@Suite struct TraceFileTests {
    @Test(arguments: Fixtures.traces)
    func metadata(_ fixture: String) throws {
        let file = try TraceFile(path: Fixtures.path(fixture))
        #expect(file.version == 6 || file.version == 7)
        // The traced kernel's long: 4 bytes on i686, 8 on the 64-bit machines; its page size:
        // 16K on Debian's arm64-16k kernel, 4K elsewhere.
        #expect(file.longSize == (file.options.machine == "i686" ? 4 : 8))
        #expect(file.pageSize == (file.options.kernelRelease?.hasSuffix("-16k") == true ? 16384 : 4096))
        #expect(file.pageLayout.commitSize == file.longSize)
        #expect(!file.cpuBuffers.isEmpty)
        #expect(!file.eventFormats.isEmpty)
        let release = try #require(file.options.kernelRelease, "\(fixture) records uname")
        #expect(
            fixture.hasPrefix("linux-" + release.prefix(while: { $0 != "." && $0 != "-" }))
                || !fixture.hasPrefix("linux-")
        )
    }

    /// saved_cmdlines gives one pid -> comm entry per line.
    @Test(arguments: Fixtures.traces)
    func savedCommands(_ fixture: String) throws {
        let file = try TraceFile(path: Fixtures.path(fixture))
        let lines = file.savedCmdlines.split(separator: "\n")
        #expect(!lines.isEmpty)
        let commands = file.savedCommands()
        #expect(commands.count == Set(lines.compactMap { $0.split(separator: " ").first }).count)
        for line in lines.prefix(20) {
            let parts = line.split(separator: " ", maxSplits: 1)
            #expect(commands[Int32(parts[0])!] != nil)
        }
    }
}
