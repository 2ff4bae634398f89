import Glibc
import NSEScan

/// Where nsebox finds its own parts: the child executable next to itself, and the
/// sandbox policies in sandbox-policies/ of the checkout (or NSEBOX_POLICY_DIR).
enum Locations {
    static func executableDirectory() -> String {
        guard let p = realpath("/proc/self/exe", nil) else { return "." }
        defer { free(p) }
        let path = String(cString: p)
        return String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
    }

    static func childExecutable() throws(SpecError) -> String {
        let path = executableDirectory() + "/nsebox-child"
        guard access(path, X_OK) == 0 else { throw SpecError("cannot find the sandbox child at \(path): build it with swift build") }
        return path
    }

    /// A policy by name (sandbox-policies/NAME.policy) or by file path.
    static func policy(_ nameOrPath: String) throws(SpecError) -> (String, String) {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".policy") {
            return (nameOrPath, try readTextFile(nameOrPath))
        }
        var candidates: [String] = []
        if let dir = getenv("NSEBOX_POLICY_DIR") { candidates.append(String(cString: dir)) }
        var dir = executableDirectory()
        for _ in 0..<5 {
            candidates.append(dir + "/sandbox-policies")
            dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
            if dir.isEmpty { break }
        }
        candidates.append("/usr/share/nsebox/sandbox-policies")
        for c in candidates {
            let path = c + "/" + nameOrPath + ".policy"
            if access(path, R_OK) == 0 { return (path, try readTextFile(path)) }
        }
        throw SpecError("no sandbox policy named '\(nameOrPath)' (looked in \(candidates.joined(separator: ", ")))")
    }
}
