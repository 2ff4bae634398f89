/// nmap's time values (--script-timeout, --host-timeout): a number with an
/// optional unit ms, s, m or h; no unit means seconds.
public enum TimeSpec {
    public static func seconds(_ text: String) throws(SpecError) -> Double {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let v = Double(text.dropLast(suffix.count)), v >= 0 { return v * scale }
        }
        if let v = Double(text), v >= 0 { return v }
        throw SpecError("Bad time value \"\(text)\": use a number with an optional unit ms, s, m or h (30s, 5m).")
    }
}
