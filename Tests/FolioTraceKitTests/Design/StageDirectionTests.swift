import Foundation
import Testing

/// The pipeline's direction, checked on the sources: a stage names only the types of the
/// stages before it (Source -> Decode -> Model -> Detect -> Analysis -> Report -> Export, with
/// Capture beside Model for live input). FolioTraceKit is one SwiftPM target so that the hot
/// path (CPUStream.next -> EventDecoder.decode -> LifecycleEngine.handle) inlines across
/// stages without `@inlinable` on their internals; this test is what a target per stage
/// would make the compiler enforce.
@Suite struct StageDirectionTests {
    static let allowed: [String: Set<String>] = [
        "Source": ["Source"],
        "Decode": ["Source", "Decode"],
        "Model": ["Source", "Decode", "Model"],
        "Detect": ["Source", "Decode", "Model", "Detect"],
        "Capture": ["Source", "Decode", "Capture"],
        "Analysis": ["Source", "Decode", "Model", "Detect", "Capture", "Analysis"],
        "Report": ["Source", "Decode", "Model", "Detect", "Analysis", "Report"],
        "Export": ["Source", "Decode", "Model", "Detect", "Analysis", "Report", "Export"],
    ]

    static let library = Fixtures.packageRoot.appendingPathComponent("Sources/FolioTraceKit")

    /// Each stage folder's Swift files, with comments removed.
    static func sources(of stage: String) throws -> [(file: String, text: String)] {
        let dir = library.appendingPathComponent(stage)
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }.sorted()
            .map { name in
                let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
                return (name, text.replacing(/\/\/[^\n]*/, with: ""))
            }
    }

    @Test func everyStageNamesOnlyEarlierStagesTypes() throws {
        #expect(
            Set(try FileManager.default.contentsOfDirectory(atPath: Self.library.path)) == Set(Self.allowed.keys),
            "a new stage folder needs its place in the pipeline here"
        )
        var owner: [String: String] = [:]
        let declaration =
            /(?m)^(?:public |internal |private |fileprivate )?(?:final )?(?:struct|enum|class|protocol|typealias) ([A-Za-z_][A-Za-z0-9_]*)/
        for stage in Self.allowed.keys {
            for (_, text) in try Self.sources(of: stage) {
                for m in text.matches(of: declaration) { owner[String(m.1)] = stage }
            }
        }
        #expect(owner["TraceFile"] == "Source" && owner["Rule"] == "Detect" && owner["TraceAnalysis"] == "Analysis")
        var violations: [String] = []
        for (stage, allowed) in Self.allowed {
            for (file, text) in try Self.sources(of: stage) {
                let words = Set(text.split { !($0.isLetter || $0.isNumber || $0 == "_") }.map(String.init))
                for word in words {
                    if let o = owner[word], !allowed.contains(o) {
                        violations.append("\(stage)/\(file) names \(o)'s \(word)")
                    }
                }
            }
        }
        #expect(violations.isEmpty, "\(violations.sorted())")
    }
}
