import Foundation

/// rpcbind on 127.0.0.1:111 (TCP and UDP; also ::1 when IPv6 is there).
///
/// rpcbind's -h only restricts its UDP sockets; on its own it listens on TCP
/// 0.0.0.0:111 and [::]:111. So it is started the way systemd's socket activation
/// does (LISTEN_FDS/LISTEN_PID), with loopback sockets a perl wrapper (perl-base
/// only) binds and then hands over by exec.
final class RPCBindServer {
    static let executable = "/usr/sbin/rpcbind"
    static let perl = "/usr/bin/perl"
    let service: ServiceProcess

    static let activator = #"""
        use strict; use Socket qw(:all); use POSIX ();
        $^F = 20;
        my @fds;
        sub sock { my ($family, $type, $address) = @_;
          socket(my $s, $family, $type, 0) or return;
          setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
          setsockopt($s, IPPROTO_IPV6, IPV6_V6ONLY, 1) if $family == PF_INET6;
          bind($s, $address) or do { die "bind: $!" if $family == PF_INET; return };
          if ($type == SOCK_STREAM) { listen($s, 64) or die "listen: $!" }
          push @fds, $s; }
        sock(PF_INET, SOCK_STREAM, pack_sockaddr_in(111, inet_aton("127.0.0.1")));
        sock(PF_INET, SOCK_DGRAM, pack_sockaddr_in(111, inet_aton("127.0.0.1")));
        sock(PF_INET6, SOCK_STREAM, pack_sockaddr_in6(111, inet_pton(AF_INET6, "::1")));
        sock(PF_INET6, SOCK_DGRAM, pack_sockaddr_in6(111, inet_pton(AF_INET6, "::1")));
        for my $i (0..$#fds) { POSIX::dup2(fileno($fds[$i]), 3 + $i) or die "dup2: $!" }
        $ENV{LISTEN_FDS} = scalar @fds; $ENV{LISTEN_PID} = $$;
        exec "/usr/sbin/rpcbind", "-f" or die "exec: $!";
        """#

    init() throws {
        try requireExecutables([Self.executable, Self.perl], package: "rpcbind")
        let service = try ServiceProcess(name: "conformance-rpcbind")
        self.service = service
        try service.write(Self.activator, to: "activate.pl")
        try service.start(executable: Self.perl, ports: exactly(111)) { _ in [service.path("activate.pl")] }
    }

    func stop() { service.stop() }
}
