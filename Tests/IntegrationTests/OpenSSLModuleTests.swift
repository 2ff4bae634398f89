import Foundation
import Testing

/// The `openssl` module (CNSEModules/openssl*.c) and the certificate parser
/// (CNSEModules/cert.c, nmap.socket.parse_ssl_certificate) in the sandboxed
/// child, against nmap 7.93 running the same scripts.
@Suite("openssl and certificate modules against nmap")
struct OpenSSLModuleTests {
    /// Digests (MD4 and RIPEMD-160 too), HMAC, bignums, ciphers (AES, 3DES, and
    /// single DES, CAST5, Blowfish, RC2, RC4, SEED, which OpenSSL 3 keeps in its
    /// legacy provider), DES_string_to_key, error messages, the name lists.
    @Test func valuesMatchNmap() throws {
        let args = ["--script", testScripts("openssl") + "openssl-values.nse", "-p", "1", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(args)
        #expect(ours.exitCode == 0, "\(ours)")
        #expect(!ours.stderr.contains("nsebox:"), "\(ours.stderr)")
        let expected = reportBody(nmap.stdout)
        let actual = reportBody(ours.stdout)
        // Known answers, so the comparison is about something: RFC 1320's MD4("abc"),
        // the NTLM and LM hashes of "password" (smbauth), a DES round trip.
        #expect(actual.contains("| md4 2 = a448017aaf21d8525fc10ae87aa6729d"), "\(ours.stdout)\n\(ours.stderr)")
        #expect(actual.contains("| ripemd160 2 = 8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"), "\(ours.stdout)")
        #expect(actual.contains("| smbauth ntlm hash = 8846f7eaee8fb117ad06bdd830b7586c"), "\(ours.stdout)")
        #expect(actual.contains("| lm hash = e52cac67419a9a224a3b108f3fa6cb6d"), "\(ours.stdout)")
        #expect(actual.contains { $0.hasPrefix("| des-ede3-cbc = ") && $0.hasSuffix(" ok") }, "\(ours.stdout)")
        #expect(actual.contains { $0.hasPrefix("| cast5-cbc = ") && $0.hasSuffix(" ok") }, "\(ours.stdout)")
        #expect(actual.contains("| supported_digests count > 0 = true"), "\(ours.stdout)")
        #expect(actual.count > 150, "\(ours.stdout)")
        #expect(reportDifferences(expected: expected, actual: actual) == [],
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    enum KeyKind: String, CaseIterable, Sendable {
        case rsa, ec, ed25519, dsa
    }

    /// A self-signed certificate made by the openssl CLI, given to the test script
    /// as hex DER: subject and issuer (with an OID OpenSSL has no name for),
    /// validity (2081 is a GeneralizedTime), PEM, extensions (critical ones and
    /// one OpenSSL cannot print), the public key, digests.
    @Test(arguments: KeyKind.allCases)
    func certificateFieldsMatchNmap(kind: KeyKind) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-cert-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let der = try makeCertificate(kind, in: dir)
        let hex = der.map { String(format: "%02x", $0) }.joined()
        let args = ["--script", testScripts("openssl") + "cert-fields.nse",
                    "--script-args", "cert-fields.der=\(hex)", "-p", "1", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(args)
        #expect(ours.exitCode == 0, "\(ours)")
        #expect(!ours.stderr.contains("nsebox:"), "\(ours.stderr)")
        let expected = reportBody(nmap.stdout)
        let actual = reportBody(ours.stdout)
        #expect(actual.contains("| parsed = userdata nil"), "\(ours.stdout)\n\(ours.stderr)")
        #expect(actual.contains("| -----END CERTIFICATE-----"), "\(ours.stdout)")
        switch kind {
        case .rsa:
            #expect(actual.contains("| pubkey type = rsa"), "\(ours.stdout)")
            #expect(actual.contains("| exponent = 65537 17"), "\(ours.stdout)")
            #expect(actual.contains { $0.hasPrefix("| subject {1.2.3.4.5} (table) = ") }, "\(ours.stdout)")
            #expect(actual.contains("| extension 2 critical = true"), "\(ours.stdout)")
        case .ec:
            #expect(actual.contains("| curve = prime256v1"), "\(ours.stdout)")
            #expect(actual.contains { $0.hasPrefix("| notAfter = ") && $0.contains("year=20") }, "\(ours.stdout)")
        case .ed25519:
            #expect(actual.contains("| pubkey type = unknown"), "\(ours.stdout)")
        case .dsa:
            #expect(actual.contains("| pubkey type = dsa"), "\(ours.stdout)")
        }
        #expect(actual.contains { $0.hasPrefix("| digest md4 = ") && !$0.hasSuffix("nil") }, "\(ours.stdout)")
        #expect(reportDifferences(expected: expected, actual: actual) == [],
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    /// nselib's ssh2 library end to end: Diffie-Hellman over openssl bignums,
    /// random bytes, MD5 and SHA-256 fingerprints of sshd's host key.
    @Test func sshKeyExchangeMatchesNmap() throws {
        let ssh = try SSHService()
        let args = ["--script", testScripts("openssl") + "ssh-hostkey-kex.nse", "-p", "\(ssh.port)", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(args)
        #expect(ours.exitCode == 0, "\(ours)")
        let expected = reportBody(nmap.stdout)
        let actual = reportBody(ours.stdout)
        let keyLine = "full=\(ssh.hostKeyPublic.split(separator: " ").prefix(2).joined(separator: " "))"
        #expect(actual.contains { $0.hasPrefix("| ssh-hostkey-kex: ssh-ed25519 bits=256 md5=") && $0.hasSuffix(keyLine) },
                "\(ours.stdout)\n\(ours.stderr)")
        #expect(reportDifferences(expected: expected, actual: actual) == [],
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    /// nmap's scripts whose libraries require openssl (sslcert, smbauth, ssh1,
    /// ssh2, ...) load in the child: the help is nmap's, byte for byte.
    @Test func scriptsNeedingOpensslLoad() throws {
        let scripts = "ssl-cert,ssh-hostkey,sshv1,smb-os-discovery,rsync-brute,vnc-brute,afp-brute,ssl-enum-ciphers,"
            + "ssl-known-key,ssl-cert-intaddr,tls-ticketbleed,smtp-ntlm-info,ms-sql-brute,oracle-brute-stealth,http-virustotal"
        let nmap = try runNmap(["--script-help", scripts])
        let ours = try runNsebox(["-d", "--script-help", scripts])
        #expect(ours.exitCode == 0, "\(ours)")
        #expect(!ours.stderr.contains("Failed to load"), "\(ours.stderr)")
        let body = { (text: String) -> String in
            guard let nl = text.firstIndex(of: "\n") else { return "" }
            return String(text[text.index(after: nl)...])
        }
        #expect(body(nmap.stdout).components(separatedBy: "\nCategories:").count == 16, "\(nmap)")
        #expect(body(ours.stdout) == body(nmap.stdout), "\(ours.stdout)\n\(ours.stderr)")
    }
}

/// Makes a self-signed certificate with the openssl CLI in `dir`; returns its DER.
private func makeCertificate(_ kind: OpenSSLModuleTests.KeyKind, in dir: URL) throws -> [UInt8] {
    let openssl = "/usr/bin/openssl"
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func run(_ args: [String]) throws {
        let r = try runProcess(openssl, args, timeout: 60)
        guard r.exitCode == 0 else { throw RunError.cannotRun(command: [openssl] + args, reason: "\(r)") }
    }
    var req = ["req", "-x509", "-nodes", "-keyout", path("key.pem"), "-out", path("cert.pem")]
    switch kind {
    case .rsa:
        let config = """
            oid_section = extra_oids
            [extra_oids]
            nseboxTestAttr = 1.2.3.4.5
            [req]
            prompt = no
            distinguished_name = dn
            x509_extensions = ext
            [dn]
            C = DE
            ST = Berlin
            O = nsebox Test, Inc.
            CN = rsa.example.test
            nseboxTestAttr = custom value
            emailAddress = a@b.test
            [ext]
            subjectAltName = DNS:rsa.example.test,IP:127.0.0.1,email:x@y.test
            basicConstraints = critical,CA:TRUE,pathlen:1
            keyUsage = critical,digitalSignature,keyCertSign
            extendedKeyUsage = serverAuth,clientAuth
            1.2.3.4.5.6 = DER:0c03616263

            """
        try config.write(toFile: path("rsa.cnf"), atomically: true, encoding: .utf8)
        req += ["-config", path("rsa.cnf"), "-newkey", "rsa:2048", "-days", "30"]
    case .ec:
        req += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-days", "20000",
                "-subj", "/CN=ec.example.test/O=EC Org"]
    case .ed25519:
        req += ["-newkey", "ed25519", "-days", "1", "-subj", "/CN=ed25519.example.test"]
    case .dsa:
        try run(["genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:1024", "-out", path("dsa.param")])
        req += ["-newkey", "dsa:" + path("dsa.param"), "-days", "1", "-subj", "/CN=dsa.example.test"]
    }
    try run(req)
    try run(["x509", "-in", path("cert.pem"), "-outform", "DER", "-out", path("cert.der")])
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("cert.der"))))
}
