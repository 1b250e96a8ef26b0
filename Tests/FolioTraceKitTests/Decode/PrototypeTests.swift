import Testing

@testable import FolioTraceKit

/// Unnamed kprobe arguments (`arg1`, ...) are read as the traced kernel's parameters: the
/// prototypes change between versions, and where the trace does not name its kernel only the
/// positions every version agrees on are read.
@Suite struct PrototypeTests {
    private func names(_ f: KprobeFunction, _ release: String?) -> [String?] {
        f.parameters(for: release.flatMap(KernelVersion.init)).map { $0?.name }
    }

    @Test func pageRemoveRmapGainedTheVMAIn518() {
        #expect(names(.pageRemoveRmap, "5.10.0-32-amd64") == ["page", "compound"])
        #expect(names(.pageRemoveRmap, "6.1.0-56-amd64") == ["page", "vma", "compound"])
        // Unknown kernel: the page is first in both, the rest is not read.
        #expect(names(.pageRemoveRmap, nil) == ["page", nil, nil])
    }

    @Test func folioFunctionsFrom68() {
        #expect(names(.folioRemoveRmapPtes, "6.12.117+deb12-amd64") == ["folio", "page", "nr_pages", "vma"])
        #expect(names(.folioAddNewAnonRmap, "6.6.0") == ["folio", "vma", "address"])
        #expect(names(.folioAddNewAnonRmap, "6.12.0") == ["folio", "vma", "address", "flags"])
        #expect(names(.migrateFolioMove, "6.12.0")[2] == "src")
    }

    /// `nr_pages` is an int: only the register's low 32 bits are the argument.
    @Test func intParametersAreReadAtTheirWidth() {
        let p = KprobeFunction.folioRemoveRmapPtes.parameters(for: KernelVersion(major: 6, minor: 12))
        #expect(p[2]?.bytes == 4 && p[0]?.bytes == 0)
        #expect(KprobeFunction.pageRemoveRmap.parameters(for: KernelVersion(major: 6, minor: 1))[2]?.bytes == 1)
    }
}
