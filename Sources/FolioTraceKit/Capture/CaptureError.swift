/// Why a live capture cannot start or go on: one line that says what to do.
public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) { self.description = description }

    static let notRoot = CaptureError("tracing needs root (or CAP_SYS_ADMIN): run it with sudo")

    static func notMounted(_ detail: String) -> CaptureError {
        CaptureError(
            "tracefs is not mounted (\(detail)): mount it with `mount -t tracefs nodev /sys/kernel/tracing`"
        )
    }
}
