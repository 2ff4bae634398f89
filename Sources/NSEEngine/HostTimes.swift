import NSEWire

/// A host's round-trip estimate as nmap keeps it (timing.cc, adjust_timeouts2)
/// and hands it to scripts as `host.times`: scripts derive their timeouts from it
/// (stdnse.get_timeout; comm's connect and request timeouts), so a host that
/// answers in microseconds gets nmap's floor of 100 ms, not its initial second.
public struct HostTimes: Equatable, Sendable {
    /// Microseconds; -1 before the first answer, as in nmap.
    public private(set) var srtt = -1
    public private(set) var rttvar = -1
    public private(set) var timeout = HostTimes.initialTimeout
    /// nmap's defaults: --initial-rtt-timeout, --min-rtt-timeout, --max-rtt-timeout.
    static let initialTimeout = 1_000_000, minTimeout = 100_000, maxTimeout = 10_000_000

    public init() {}

    /// As recorded in an audit log's `host` record.
    public init(srtt: Int, rttvar: Int, timeout: Int) {
        self.srtt = srtt; self.rttvar = rttvar; self.timeout = timeout
    }

    /// One probe's round trip in seconds, in the order the answers came.
    public mutating func add(_ seconds: Double) {
        var delta = Int((seconds * 1_000_000).rounded())
        // nmap lets a capture's clock run slightly ahead of its own.
        if delta < 0 && delta > -50_000 { delta = 10_000 }
        if srtt == -1 && rttvar == -1 {
            srtt = delta
            rttvar = min(max(delta, 5_000), 2_000_000)
            timeout = srtt + (rttvar << 2)
        } else {
            // nmap's sanity checks: such a sample is ignored.
            if delta >= 8_000_000 || delta < 0 { return }
            let change = delta - srtt
            if change > 1_500_000 && change > 3 * srtt + 2 * rttvar { return }
            srtt += change >> 3
            rttvar += (abs(change) - rttvar) >> 2
            timeout = srtt + (rttvar << 2)
        }
        if rttvar > 2_300_000 { rttvar = 2_000_000 }
        timeout = min(max(timeout, HostTimes.minTimeout), HostTimes.maxTimeout)
    }

    /// `host.times`: seconds, as nmap divides its microseconds.
    public var table: Value {
        .record([("srtt", .double(Double(srtt) / 1e6)), ("rttvar", .double(Double(rttvar) / 1e6)),
                 ("timeout", .double(Double(timeout) / 1e6))])
    }
}
