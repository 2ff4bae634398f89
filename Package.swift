// swift-tools-version:6.1
import PackageDescription

/// Module graph (see docs/design.md):
///   NSEWire  <- nothing          (frames, messages, values)
///   NSEPolicy <- nothing         (policy file parser, shared by broker and child)
///   NSESystem <- CSandboxSys     (owned fds, the syscall helper, spawning)
///   NSESandbox <- NSEPolicy, NSESystem, CSeccomp   (applied inside the child only)
///   NSEChild <- NSEWire, NSESystem, NSESandbox, CLua, CLPeg   (links Lua, no broker code)
///   NSEBroker <- NSEWire, NSESystem, NSEPolicy      (links no Lua)
///   NSEScan <- nothing           (target and port specs, nmap-services, the port table)
///   NSEEngine <- NSEBroker, NSEScan  (script selection, scheduling, report)
let package = Package(
    name: "nsebox",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nsebox", targets: ["nsebox"]),
        .executable(name: "nsebox-child", targets: ["nsebox-child"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4", providers: [.apt(["liblua5.4-dev"])]),
        // Debian's lua5.4-lpeg.pc does not parse in SwiftPM: the module map links it by name.
        .systemLibrary(name: "CLPeg", providers: [.apt(["lua-lpeg-dev"])]),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "CSandboxSys"),
        // Lua modules over Debian's C libraries (openssl over libcrypto, zlib over libz).
        .target(name: "CNSEModules", dependencies: ["CLua", "COpenSSL"], linkerSettings: [.linkedLibrary("z"), .linkedLibrary("ssh2")]),

        .target(name: "NSEWire"),
        .target(name: "NSEPolicy"),
        .target(name: "NSESystem", dependencies: ["CSandboxSys"]),
        .target(name: "NSESandbox", dependencies: ["NSEPolicy", "NSESystem", "CSeccomp"]),
        .target(name: "NSEChild", dependencies: ["NSEWire", "NSESystem", "NSESandbox", "CSandboxSys", "CLua", "CLPeg", "CNSEModules"]),
        .target(name: "NSEBroker", dependencies: [
            "NSEWire", "NSESystem", "NSEPolicy", "COpenSSL", "CPcap",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "NSEScan"),
        .target(name: "NSEEngine", dependencies: ["NSEBroker", "NSEScan", "NSEWire", "NSEPolicy"]),
        .executableTarget(name: "nsebox", dependencies: [
            "NSEEngine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Released children are one static executable (Swift's runtime, Lua, lpeg,
        // OpenSSL, libssh2, zlib, libseccomp and glibc, all from Debian's -dev
        // packages): a fork's cost grows with the number of mappings (docs/
        // performance.md), and every script instance is a fork of the zygote.
        // A child resolves no names and loads nothing at run time (its filter
        // forbids opening files), so glibc's static-linking caveats do not apply.
        // Debug builds (the tests, which link this target's module) stay dynamic.
        .executableTarget(name: "nsebox-child", dependencies: ["NSEChild"],
                          linkerSettings: [.unsafeFlags(["-static-executable"], .when(configuration: .release))]),

        // fuzz-seeds.txt is read from the source tree (#filePath), not bundled.
        .testTarget(name: "NSEWireTests", dependencies: ["NSEWire"], exclude: ["fuzz-seeds.txt"]),
        .testTarget(name: "NSEPolicyTests", dependencies: ["NSEPolicy"]),
        // The death tests' C helper: a system call by name, straight through syscall(2).
        .target(name: "CSyscallProbe", path: "Tests/CSyscallProbe"),
        .testTarget(name: "NSESandboxTests", dependencies: ["NSESandbox", "NSEPolicy", "NSESystem", "CSandboxSys", "CSyscallProbe"]),
        .testTarget(name: "NSEScanTests", dependencies: ["NSEScan"]),
        .testTarget(name: "NSEBrokerTests", dependencies: ["NSEBroker", "NSESystem", "NSEWire"]),
        .testTarget(name: "NSEChildTests", dependencies: ["NSEChild", "NSEWire", "CLua"]),
        .testTarget(name: "NSEEngineTests", dependencies: ["NSEEngine", "NSEScan", "NSEWire"]),
        .testTarget(name: "IntegrationTests", dependencies: ["nsebox", "nsebox-child"]),
        // Live conformance suite: real Debian services on loopback, nmap vs nsebox.
        // Tests/Conformance/Harness holds symlinks to IntegrationTests' harness files.
        .testTarget(name: "ConformanceTests", dependencies: ["nsebox", "nsebox-child"], path: "Tests/Conformance"),
    ]
)
