import COpenSSL
import Glibc

/// An OpenSSL client session over a connected, non-blocking TCP descriptor that the
/// caller owns. It is set up like a scanner's: no certificate verification, every
/// protocol version and cipher OpenSSL still has (security level 0), no session
/// reuse, SNI only for a host name. The handshake is driven by the reactor; reads
/// and writes are single non-blocking attempts that say what to wait for.
final class TLSSession {
    /// What one read or write attempt came to.
    enum Step: Equatable {
        case done(Int)                  // bytes moved (> 0)
        case wait(Reactor.Events)       // try again when the descriptor is ready for these
        case eof                        // the peer closed the TLS session (close_notify)
        case failed                     // protocol or socket error; the session is unusable
    }

    private let ssl: OpaquePointer
    private let fd: Int32
    private let reactor: Reactor
    private(set) var isEstablished = false
    /// Set after a fatal error: OpenSSL must then not be asked to shut down.
    private var broken = false

    /// nil when OpenSSL cannot make a session (out of memory, no context).
    init?(fd: Int32, serverName: String?, reactor: Reactor) {
        guard let ctx = TLSSession.context, let ssl = SSL_new(ctx) else { return nil }
        self.ssl = ssl
        self.fd = fd
        self.reactor = reactor
        guard SSL_set_fd(ssl, fd) == 1 else { return nil }
        if let name = serverName, TLSSession.isHostName(name) {
            _ = name.withCString { nsebox_tls_set_server_name(ssl, $0) }
        }
        SSL_set_connect_state(ssl)
    }

    deinit { SSL_free(ssl) }

    /// Runs the handshake to its end, watching the descriptor for whatever OpenSSL
    /// waits on; `done(true)` once established. The caller bounds it with a timer
    /// (unwatching the descriptor stops it).
    func handshake(_ done: @escaping (Bool) -> Void) {
        switch attempt({ SSL_do_handshake($0) }) {
        case .done:
            isEstablished = true
            done(true)
        case .wait(let events):
            reactor.watch(fd, events) { [weak self] _, _, _ in self?.handshake(done) }
        case .eof, .failed:
            done(false)
        }
    }

    /// One SSL_read into `buffer`.
    func read(into buffer: inout [UInt8]) -> Step {
        buffer.withUnsafeMutableBytes { raw in
            attempt { SSL_read($0, raw.baseAddress, Int32(clamping: raw.count)) }
        }
    }

    /// One SSL_write of (a prefix of) `data`. After `.wait`, call again with the same bytes.
    func write(_ data: ArraySlice<UInt8>) -> Step {
        data.withUnsafeBytes { raw in
            attempt { SSL_write($0, raw.baseAddress, Int32(clamping: raw.count)) }
        }
    }

    /// The peer's certificate in DER, if it sent one.
    /// The protocol version and cipher the handshake settled on ("TLSv1.3",
    /// "TLS_AES_256_GCM_SHA384").
    var negotiated: (version: String, cipher: String) {
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "?"
        let cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)).map { String(cString: $0) } ?? "?"
        return (version, cipher)
    }

    func peerCertificate() -> [UInt8]? {
        guard let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        let length = i2d_X509(cert, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buf -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buf.baseAddress
            return i2d_X509(cert, &cursor)
        }
        return written == length ? der : nil
    }

    /// Sends close_notify once, without waiting for the peer's (the descriptor is
    /// closed right after). Nothing is sent for a failed or unfinished session.
    func shutdown() {
        guard isEstablished, !broken else { return }
        broken = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Gives up on the session (a handshake that timed out): every later call fails.
    func abandon() { broken = true }

    // MARK: plumbing

    /// Calls OpenSSL once and classifies the outcome.
    private func attempt(_ call: (OpaquePointer) -> Int32) -> Step {
        if broken { return .failed }
        ERR_clear_error()
        errno = 0
        let r = call(ssl)
        if r > 0 { return .done(Int(r)) }
        let error = SSL_get_error(ssl, r)
        switch error {
        case SSL_ERROR_WANT_READ: return .wait(.read)
        case SSL_ERROR_WANT_WRITE: return .wait(.write)
        case SSL_ERROR_ZERO_RETURN: return .eof
        default:
            broken = true
            ERR_clear_error()
            return .failed
        }
    }

    /// A name for SNI: not an IPv4 or IPv6 literal (RFC 6066 allows only host names).
    static func isHostName(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count < 256 else { return false }
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) != 1 && inet_pton(AF_INET6, s, &v6) != 1
    }

    /// One context for every session: made at first use, never freed. The broker's
    /// reactor is one thread; OpenSSL's contexts are safe to share anyway.
    nonisolated(unsafe) private static let context: OpaquePointer? = {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { return nil }
        nsebox_tls_ctx_configure(ctx)
        // The lowest version this OpenSSL supports (SSL 3 if built in, else TLS 1.0).
        _ = nsebox_tls_ctx_set_min_proto_version(ctx, 0)
        // Every cipher, including the NULL and export-grade ones, at security level 0.
        if SSL_CTX_set_cipher_list(ctx, "ALL:eNULL:@SECLEVEL=0") != 1 {
            _ = SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0")
        }
        SSL_CTX_set_security_level(ctx, 0)
        ERR_clear_error()
        return ctx
    }()
}
