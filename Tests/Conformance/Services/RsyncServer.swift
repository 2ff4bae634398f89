import Foundation

/// An rsync daemon on 127.0.0.1:873 with a public and a password-protected module.
///
/// rsync ≥ 3.2.4 (Debian 12 has 3.5.0+ds1-0+deb12u1) greets with "@RSYNCD: 32.0 sha512
/// sha256 …", which nmap 7.93's rsync library rejects ("^@RSYNCD: [%.%d]+$"), so
/// rsync-list-modules gives nothing. A small perl listener (perl-base only) therefore
/// runs `rsync --daemon` in inetd mode for each connection and cuts the digest list
/// off the greeting line; everything else passes through unchanged (rsync's
/// end is a socketpair: in inetd mode rsync talks over its stdin, which must be a socket).
final class RsyncServer {
    static let executable = "/usr/bin/rsync"
    static let perl = "/usr/bin/perl"
    let service: ServiceProcess

    static let listener = #"""
        use strict; use Socket qw(:all);
        my ($port, $config) = @ARGV;
        socket(my $l, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
        setsockopt($l, SOL_SOCKET, SO_REUSEADDR, 1);
        bind($l, pack_sockaddr_in($port, inet_aton("127.0.0.1"))) or die "bind 127.0.0.1:$port: $!";
        listen($l, 64) or die "listen: $!";
        $SIG{CHLD} = 'IGNORE';
        while (1) {
          accept(my $c, $l) or next;
          my $pid = fork();
          if (defined $pid && $pid == 0) {
            close $l;
            # rsync in inetd mode reads and writes its stdin, which must be a socket.
            socketpair(my $p, my $q, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or exit 1;
            my $d = fork();
            if (defined $d && $d == 0) {
              close $p; close $c;
              open(STDIN, "<&", $q) or exit 1;
              open(STDOUT, ">&", $q) or exit 1;
              exec "/usr/bin/rsync", "--daemon", "--config=$config";
              exit 1;
            }
            close $q;
            my ($line, $ch) = ("", "");
            while (sysread($p, $ch, 1)) { $line .= $ch; last if $ch eq "\n" }
            $line =~ s/^(\@RSYNCD: [\d.]+) [^\n]*/$1/;
            syswrite($c, $line);
            my $buf;
            while (1) {
              my $rin = '';
              vec($rin, fileno($c), 1) = 1; vec($rin, fileno($p), 1) = 1;
              select(my $rout = $rin, undef, undef, 60) > 0 or exit 0;
              if (vec($rout, fileno($c), 1)) { sysread($c, $buf, 65536) or exit 0; syswrite($p, $buf) }
              if (vec($rout, fileno($p), 1)) { sysread($p, $buf, 65536) or exit 0; syswrite($c, $buf) }
            }
          }
          close $c;
        }
        """#

    init() throws {
        try requireExecutables([Self.executable, Self.perl], package: "rsync")
        let service = try ServiceProcess(name: "conformance-rsync")
        self.service = service
        try service.write("data\n", to: "public/data.txt")
        try service.write("nobody:nsebox-unused\n", to: "secrets")
        _ = chmod(service.path("secrets"), 0o600)
        try service.write("""
            use chroot = no
            log file = \(service.path("rsyncd.log"))
            [public]
              path = \(service.path("public"))
              comment = nsebox conformance files
              read only = yes
            [private]
              path = \(service.path("public"))
              comment = needs a password
              auth users = nobody
              secrets file = \(service.path("secrets"))

            """, to: "rsyncd.conf")
        try service.write(Self.listener, to: "listener.pl")
        try service.start(executable: Self.perl, ports: exactly(873), extraLogs: ["rsyncd.log"]) { port in
            [service.path("listener.pl"), "\(port)", service.path("rsyncd.conf")]
        }
    }

    func stop() { service.stop() }
}
