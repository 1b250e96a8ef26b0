import FolioTraceKit
import Foundation
import Testing

/// The JSON writer's strings: escaped where JSON requires it and nowhere else, whatever the
/// position of a byte in the word-at-a-time scan, and read back by Foundation's parser as
/// the string that was written.
@Suite struct JSONTextTests {
    @Test func escapesWhatJSONRequires() {
        #expect(JSON.quote("plain") == "\"plain\"")
        #expect(JSON.quote("a\"b\\c") == "\"a\\\"b\\\\c\"")
        #expect(JSON.quote("\n\t\r\u{01}\u{1f}") == "\"\\n\\t\\r\\u0001\\u001f\"")
        #expect(JSON.quote("pfn é → 😀 \u{7f}") == "\"pfn é → 😀 \u{7f}\"", "UTF-8 and DEL pass as they are")
        #expect(JSON.quote("") == "\"\"")
    }

    /// Every special byte at every offset of strings of 0 to 40 bytes (so at each place of an
    /// eight-byte word and in the tail after the last whole word), between plain ASCII and
    /// multi-byte UTF-8 fillers, parsed back by JSONDecoder.
    @Test func everyOffsetRoundTrips() throws {
        let specials: [String] = ["\"", "\\", "\n", "\u{00}", "\u{1f}", " ", "\u{7f}", "é", "😀"]
        let fillers: [Character] = ["x", "é"]
        for filler in fillers {
            for length in 0...40 {
                for special in specials {
                    for offset in stride(from: 0, through: length, by: 3) {
                        var s = String(repeating: filler, count: length)
                        s.insert(contentsOf: special, at: s.index(s.startIndex, offsetBy: offset))
                        let text = "[" + JSON.quote(s) + "]"
                        let back = try JSONDecoder().decode([String].self, from: Data(text.utf8))
                        #expect(back == [s], "\(text)")
                    }
                }
            }
        }
    }

    @Test func indentedAndCompactShapes() {
        let v = JSON.object([
            ("a", .array([.uint(0), .int(-12), .uint(UInt64.max)])), ("b", .object([])), ("c", .null),
        ])
        #expect(v.compact == "{\"a\":[0,-12,18446744073709551615],\"b\":{},\"c\":null}")
        #expect(
            v.rendered(indent: "> ")
                == "{\n>   \"a\": [\n>     0,\n>     -12,\n>     18446744073709551615\n>   ],\n>   \"b\": {},\n>   \"c\": null\n> }"
        )
    }
}
