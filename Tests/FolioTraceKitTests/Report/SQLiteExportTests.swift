import FolioTraceKit
import Foundation
import Testing

/// `foliotrace export --sqlite`, queried with the sqlite3 command-line shell (the way users
/// will), with answers checked against the kernel's own numbers for each fixture.
@Suite struct SQLiteExportTests {
    static let sqlite3 = "/usr/bin/sqlite3"

    /// Exports `fixture` and returns a function that runs a query and gives its rows.
    static func export(_ fixture: String, steps: Bool = false) throws -> (URL, (String) throws -> [[String]]) {
        let dir = try Fixtures.scratch("sqlite")
        let db = dir.appendingPathComponent("export.db").path
        let r = try CommandLineTests.run(
            ["export", Fixtures.path(fixture), "--sqlite", db] + (steps ? ["--steps"] : [])
        )
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
        let query = { (sql: String) throws -> [[String]] in
            let q = try CommandLineTests.execute(Self.sqlite3, ["-batch", "-separator", "|", db, sql])
            #expect(q.status == 0, "\(sql): \(q.stderr)")
            return q.stdout.split(separator: "\n").map {
                $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            }
        }
        return (dir, query)
    }

    /// Host 6.18: page cache per memcg at the end = memory.stat `cache`; pages A's reclaim
    /// evicted = pgsteal_file; the folios A's reclaim took that B faulted back = B's
    /// workingset_refault_file, all of one inode (the shared file's, from the truth file).
    @Test(Prerequisite.executable(sqlite3, package: "sqlite3"))
    func memcgReclaimAnswersMatchTheKernel() throws {
        let fixture = "linux-6.18/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        let (dir, query) = try Self.export(fixture, steps: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let id = { (name: String) in try #require(truth.line("memcg \(name):").map(Truth.numbers)?.last) }
        let (a, b) = (try id("A"), try id("B"))
        let cache = try query(
            """
            SELECT memcg, SUM(pages) FROM generations WHERE freed_ts IS NULL
              AND page_cache_added_ts IS NOT NULL AND page_cache_deleted_ts IS NULL GROUP BY memcg
            """
        )
        for (name, m) in [("A", a), ("B", b)] {
            let stat = try #require(truth.memoryStat("-- \(name) memory.stat after")["cache"])
            #expect(cache.contains(["\(m)", "\(stat / 4096)"]), "memcg \(name): \(cache)")
        }
        let steal = try #require(truth.line("pgsteal_file").map(Truth.numbers)?.first)
        #expect(
            try query("SELECT memcg, SUM(pages) FROM generations WHERE evicted = 1 GROUP BY memcg") == [
                ["\(a)", "\(steal)"]
            ]
        )
        // docs/export.md: folios of memcg A reclaimed while another memcg's task used them.
        let refaults = try #require(truth.memoryStat("-- B memory.stat after")["workingset_refault_file"])
        let foreign = try query(
            """
            SELECT f.other_memcg, f.inode, COUNT(*) FROM findings f
              WHERE f.rule = 'foreign-refault-after-memcg-reclaim' AND f.memcg = \(a)
              GROUP BY f.other_memcg, f.inode
            """
        )
        let inode = try #require(truth.lines.lazy.compactMap { Truth.number(after: "ino", in: $0) }.first)
        #expect(foreign == [["\(b)", "\(inode)", "\(refaults)"]])
        // Every finding has its evidence; the memcgs carry their paths; steps were written.
        #expect(try query("SELECT COUNT(*) FROM findings WHERE id NOT IN (SELECT finding_id FROM evidence)") == [["0"]])
        #expect(try query("SELECT path FROM memcgs WHERE id = \(b)").first?.first?.hasSuffix("foliotrace-B") == true)
        #expect(Int(try query("SELECT COUNT(*) FROM steps").first?.first ?? "") ?? 0 > 0)
    }

    /// Debian 6.1: unmapped charge moves = the kernel hist trigger's; pages moved into B = the
    /// growth of B's memory.stat cache + rss; no steps without --steps.
    @Test(Prerequisite.executable(sqlite3, package: "sqlite3"))
    func chargeMoveAnswersMatchTheKernel() throws {
        let fixture = "linux-6.1/charge-move.dat"
        let truth = try Truth(fixture)
        let (dir, query) = try Self.export(fixture)
        defer { try? FileManager.default.removeItem(at: dir) }
        let unmapped = try #require(KprobeTests.kernelHistogram(truth.lines.joined(separator: "\n"))["-1/0"])
        #expect(try query("SELECT findings FROM rules WHERE rule = 'charge-move-unmapped'") == [["\(unmapped)"]])
        let after = truth.memoryStat("-- B memory.stat after move")
        let before = truth.memoryStat("-- B memory.stat before move")
        let moved = try #require(after["cache"]) + after["rss"]! - before["cache"]! - before["rss"]!
        let ids = try #require(truth.line("memcg A: path").map(Truth.numbers))
        #expect(try query("SELECT pages_moved_in FROM memcgs WHERE id = \(ids[1])") == [["\(moved / 4096)"]])
        #expect(try query("SELECT COUNT(*) FROM steps") == [["0"]])
    }

    /// The schema in the docs is the one the code creates.
    @Test func documentedSchemaIsTheCodes() throws {
        let doc = try String(
            contentsOf: Fixtures.packageRoot.appendingPathComponent("docs/export-schema.sql"),
            encoding: .utf8
        )
        #expect(doc.hasSuffix(SQLiteExport.schema), "regenerate docs/export-schema.sql from SQLiteExport.schema")
    }

    /// Found before the analysis: the temporary file beside the target cannot be made.
    @Test func unwritableDatabaseExitsTwo() throws {
        let r = try CommandLineTests.run([
            "export", Fixtures.path("linux-6.1/charge-move.dat"), "--sqlite", "/nonexistent-dir/x.db",
        ])
        #expect(
            r.status == 2
                && r.stderr
                    == "foliotrace: /nonexistent-dir/x.db: cannot create a file in /nonexistent-dir: No such file or directory\n"
        )
    }
}
