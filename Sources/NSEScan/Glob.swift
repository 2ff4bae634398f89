/// Case-insensitive shell-style matching with `*` (any run of characters,
/// possibly empty) and `?` (exactly one character), as nmap uses for service
/// names in `-p http*`.
public func globMatches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.lowercased())
    let t = Array(text.lowercased())
    var pi = 0, ti = 0
    // Where the last `*` was seen and how much text it had swallowed when we
    // fell back to it; retrying from there makes this linear-ish, not exponential.
    var starP: Int?
    var starT = 0
    while ti < t.count {
        if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
            pi += 1
            ti += 1
        } else if pi < p.count, p[pi] == "*" {
            starP = pi
            starT = ti
            pi += 1
        } else if let star = starP {
            pi = star + 1
            starT += 1
            ti = starT
        } else {
            return false
        }
    }
    while pi < p.count, p[pi] == "*" { pi += 1 }
    return pi == p.count
}
