import Foundation
import Testing

/// The HTML report in a real browser: headless Chromium loads the file from disk (no
/// network), runs its script, and takes a screenshot.
@Suite struct HTMLBrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    struct Page {
        var dom: String
        var console: String
        var screenshot: Data
        var bytes: Int
    }

    /// Writes the HTML report of `fixture` through the CLI (with its folio stories) and loads it.
    static func load(_ fixture: String, in dir: URL) throws -> Page {
        let chromium = try #require(Self.chromium, "no chromium")
        let html = dir.appendingPathComponent("report.html")
        let r = try CommandLineTests.run(["analyze", "--format", "html", "-o", html.path, Fixtures.path(fixture)])
        #expect(r.status == 0, "\(r.stderr)")
        let flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--user-data-dir=\(dir.appendingPathComponent("profile").path)", "--enable-logging=stderr", "--v=0",
            "--window-size=1200,2000",
        ]
        let png = dir.appendingPathComponent("shot.png")
        let dom = try browse(chromium, flags + ["--dump-dom", html.absoluteString])
        let shot = try browse(chromium, flags + ["--screenshot=\(png.path)", html.absoluteString])
        #expect(shot.status == 0, "\(shot.stderr)")
        let size = try FileManager.default.attributesOfItem(atPath: html.path)[.size] as? Int ?? 0
        return Page(
            dom: dom.stdout,
            console: dom.stderr + shot.stderr,
            screenshot: (try? Data(contentsOf: png)) ?? Data(),
            bytes: size
        )
    }

    /// One headless Chromium run, given a second chance when the first hangs (it seldom does;
    /// a hang must fail this test, not stall the run).
    static func browse(_ chromium: String, _ arguments: [String]) throws -> CommandLineTests.Run {
        var r = try Subprocess(chromium, arguments).wait(timeout: 90)
        if r.timedOut {
            print("chromium hung for 90 s; trying again: \(r.stderr.suffix(500))")
            r = try Subprocess.run(chromium, arguments, timeout: 90)
        }
        return CommandLineTests.Run(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    /// The data-* marks the report's script sets once it has run to its end.
    static func mark(_ name: String, in dom: String) -> String? {
        guard let body = dom.range(of: "<body[^>]*>", options: .regularExpression) else { return nil }
        let tag = dom[body]
        guard let r = tag.range(of: "data-\(name)=\"[^\"]*\"", options: .regularExpression) else { return nil }
        return String(tag[r].dropFirst(name.count + 7).dropLast())
    }

    /// The largest capture (by events) and the one with findings: the script ran without an
    /// error, every plot is there, the page rendered in under 2 s, and the file is small.
    @Test(
        Prerequisite.executable("/usr/bin/chromium", package: "chromium"),
        arguments: ["linux-6.18/compaction-mlock-anon.dat", "linux-6.18/memcg-reclaim-foreign.dat"]
    )
    func rendersInChromium(_ fixture: String) throws {
        let dir = try Fixtures.scratch("html")
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = try Self.load(fixture, in: dir)
        #expect(Self.mark("ready", in: page.dom) == "1", "the report's script did not finish")
        #expect(Int(Self.mark("plots", in: page.dom) ?? "") ?? 0 >= 4, "plots drawn")
        let ms = try #require(Int(Self.mark("render-ms", in: page.dom) ?? ""))
        #expect(ms < 2000, "rendered in \(ms) ms")
        #expect(page.bytes < 5 << 20, "\(page.bytes) bytes")
        for line in page.console.split(separator: "\n") where line.contains("CONSOLE") {
            #expect(!line.contains("Uncaught") && !line.contains("Error"), "console: \(line)")
        }
        for id in ["plot-lru", "plot-pagecache", "plot-lifetimes", "rules", "summary"] {
            #expect(page.dom.contains("id=\"\(id)\""), "\(id) missing")
        }
        // A screenshot of a blank page compresses to a few KB; plots and tables do not.
        #expect(page.screenshot.starts(with: [0x89, 0x50, 0x4E, 0x47]) && page.screenshot.count > 40_000)
    }

    /// Each listed finding links to its folio's story, rendered inline.
    @Test(Prerequisite.executable("/usr/bin/chromium", package: "chromium"))
    func findingsLinkToTheirFolioStories() throws {
        let dir = try Fixtures.scratch("html-story")
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = try Self.load("linux-6.18/memcg-reclaim-foreign.dat", in: dir)
        let links = page.dom.matches(of: /href="#(folio-0x[0-9a-f]+)"/).map { String($0.1) }
        #expect(links.count >= 50)
        for id in Set(links) { #expect(page.dom.contains("<details class=\"story\" id=\"\(id)\"")) }
        #expect(page.dom.contains("mm_filemap_delete_from_page_cache"), "stories show the events")
    }
}
