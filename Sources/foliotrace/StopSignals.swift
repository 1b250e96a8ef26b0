#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Set by SIGINT/SIGTERM; capture loops check it and tear down.
nonisolated(unsafe) private var stopSignal: sig_atomic_t = 0

/// Ctrl-C and SIGTERM as a request to stop, for the commands that hold a tracefs instance:
/// they must get to their teardown instead of dying with the instance still there.
enum StopSignals {
    static var requested: Bool { stopSignal != 0 }

    static func install() {
        signal(SIGINT) { _ in stopSignal = 1 }
        signal(SIGTERM) { _ in stopSignal = 1 }
        // A parent may have blocked them (and a blocked mask is inherited): unblock, or
        // Ctrl-C would wait for the end of the capture.
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        sigaddset(&mask, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &mask, nil)
    }

    static func restore() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
