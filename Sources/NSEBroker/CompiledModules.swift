import NSEWire

/// nselib modules compiled once per scan. Every script instance requires the same
/// libraries (http.lua and what it requires), and compiling them was the largest
/// part of a child's work. The first children get a module's source. The broker
/// then has the module compiled by a child of its own (`ScriptJob.Mode.compile`),
/// which loads no script and only compiles what the broker gives it. Later
/// children get that bytecode, which their loader accepts from the broker alone:
/// a script still cannot load a binary chunk (docs/security.md).
final class CompiledModules {
    /// Bytecode by module name, from compile jobs only.
    private var bytecode: [String: [UInt8]] = [:]
    /// Names asked for and not compiled yet, and whether a compile job is due.
    private var wanted: [String] = []
    private var requested: Set<String> = []
    private var scheduled = false
    private(set) var hits = 0
    static let maxBytes = 4 << 20
    static let batchDelay = 0.05

    func code(_ name: String) -> [UInt8]? {
        guard let c = bytecode[name] else { return nil }
        hits += 1
        return c
    }

    /// Notes a module a child loaded from source; a compile job for the names
    /// gathered meanwhile is submitted shortly after (`submit`).
    func want(_ name: String, reactor: Reactor, submit: @escaping ([String]) -> Void) {
        guard bytecode[name] == nil, requested.insert(name).inserted else { return }
        wanted.append(name)
        guard !scheduled else { return }
        scheduled = true
        _ = reactor.after(Self.batchDelay) { [self] in
            scheduled = false
            let names = wanted
            wanted = []
            if !names.isEmpty { submit(names) }
        }
    }

    /// Keeps what a compile job returned for the names it was given: Lua 5.4
    /// binary chunks (they start with ESC "Lua" and the version byte 0x54).
    func store(_ compiled: Value, names: [String]) {
        for name in names {
            guard case .bytes(let code) = compiled[name], code.count <= Self.maxBytes,
                  code.starts(with: [0x1B, 0x4C, 0x75, 0x61, 0x54]) else { continue }
            bytecode[name] = code
        }
    }

    var count: Int { bytecode.count }
}
