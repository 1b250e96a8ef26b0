/// What `foliotrace events` counts of a record, from its event id and length alone.
///
/// `TraceInventory` counts records as unknown (no format has their id), malformed (a modelled
/// event shorter than its format), typed (decoded into a memory event) or other. That is
/// exactly what `EventDecoder.decode` would answer, as its only `.malformed` is the length
/// check and its only `.other` the events it does not model; building the typed event just to
/// drop it was a third of the per-record cost (docs/performance.md). `RecordClassesTests`
/// checks the two against each other on every record of every fixture.
struct RecordClasses: Sendable {
    /// One code per event id: `unknown`, or the shortest length that is not malformed, as is
    /// for a modelled event and as `-1 - length` for one that is counted, not decoded.
    let codes: [Int32]

    /// No format defines the id.
    static let unknown = Int32.min

    init(decoder: EventDecoder) {
        let catalog = decoder.catalog
        codes = (0..<catalog.idLimit).map { id in
            guard catalog.type(id: UInt16(id)) != nil else { return Self.unknown }
            let (minimum, modelled) = decoder.shape(ofID: id)
            return modelled ? minimum : -1 - minimum
        }
    }

    /// The class of a record with `code` (this table's entry for its id) and `length` bytes.
    enum Class: Equatable {
        case unknown, malformed, typed, other
    }

    /// - Parameter code: `codes[id]`, or `unknown` for an id past the table.
    @inline(__always)
    static func classify(code: Int32, length: Int) -> Class {
        if code == unknown { return .unknown }
        if code >= 0 { return length < Int(code) ? .malformed : .typed }
        return length < Int(-1 - code) ? .malformed : .other
    }
}
