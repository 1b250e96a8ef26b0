/// The one line an error takes on stderr: `foliotrace: PATH: REASON`, at most `limit`
/// characters, printable ASCII only.
///
/// The last line of defence for messages that carry bytes from a file (an event name, a
/// format's text, a kallsyms line): everything outside printable ASCII is shown as `\xNN` (the UTF-8 bytes of a character, so a non-ASCII path reads as
/// its bytes), and a message too long is cut with `...` inside the path and at the end of
/// the reason, so the file and the start of the reason always show.
public enum ErrorLine {
    public static let limit = 300

    /// The line, without its newline.
    /// - Parameters:
    ///   - path: the file the problem is about, when there is one.
    ///   - reason: what is wrong with it.
    public static func format(path: String?, reason: String, limit: Int = ErrorLine.limit) -> String {
        let head = "foliotrace: "
        var line = head
        if let path {
            // Half the room at most for the path: its start and its end (the file's name).
            line += middleCut(escaped(path), to: (limit - head.count) / 2) + ": "
        }
        let room = limit - line.count
        let reasonText = escaped(reason)
        line += reasonText.count <= room ? reasonText : endCut(reasonText, to: room)
        return line
    }

    /// A message that already has its path in front (`"PATH: REASON"` from an error's
    /// description), or none.
    public static func format(_ message: String, limit: Int = ErrorLine.limit) -> String {
        format(path: nil, reason: message, limit: limit)
    }

    /// Printable ASCII as is; every other byte as `\xNN` (`MessageText.escaped`, which the
    /// library's own messages already went through: escaping again changes nothing).
    public static func escaped(_ text: String) -> String { MessageText.escaped(text) }

    /// `text` shortened to `count` characters by `...` at its end, never inside a `\xNN`.
    private static func endCut(_ text: String, to count: Int) -> String { MessageText.endCut(text, to: count) }

    /// `text` shortened to `count` characters by `...` in its middle (a path's directories).
    private static func middleCut(_ text: String, to count: Int) -> String {
        guard text.count > count, count > 9 else { return text }
        let chars = Array(text)
        var start = chars.count - (count - 3) / 2
        // A tail that begins inside a \xNN begins after it instead.
        for back in 1...3 where start - back >= 0 && chars[start - back] == "\\" {
            start = start - back + 4
            break
        }
        let end = String(chars[min(start, chars.count)...])
        let tail = end.count
        return endCut(text, to: count - tail) + end
    }
}
