import Foundation

/// MariaDB on 127.0.0.1:3306 with a fresh data directory whose root user has an
/// empty password (so nmap's mysql-* scripts that log in have something to show).
final class MariaDBServer {
    static let executable = "/usr/sbin/mariadbd"
    static let installer = "/usr/bin/mariadb-install-db"
    let service: ServiceProcess

    init() throws {
        try requireExecutables([Self.executable, Self.installer], package: "mariadb-server")
        let service = try ServiceProcess(name: "conformance-mariadb")
        self.service = service
        try runSetup(Self.installer, [
            "--no-defaults", "--datadir=\(service.path("data"))", "--user=root",
            "--auth-root-authentication-method=normal", "--skip-test-db",
        ], timeout: 120)
        try service.start(executable: Self.executable, ports: exactly(3306), extraLogs: ["error.log"],
                          startupTimeout: 60) { _ in
            ["--no-defaults", "--datadir=\(service.path("data"))", "--user=root", "--bind-address=127.0.0.1",
             "--port=3306", "--socket=\(service.path("mysqld.sock"))", "--pid-file=\(service.path("mysqld.pid"))",
             "--skip-name-resolve", "--skip-log-bin", "--log-error=\(service.path("error.log"))",
             "--innodb-buffer-pool-size=16M", "--max-connections=500"]
        }
    }

    func stop() { service.stop() }
}

/// redis on 127.0.0.1:6379, nothing persisted.
final class RedisServer {
    static let executable = "/usr/bin/redis-server"
    let service: ServiceProcess

    init() throws {
        try requireExecutables([Self.executable], package: "redis-server")
        let service = try ServiceProcess(name: "conformance-redis")
        self.service = service
        try service.start(executable: Self.executable, ports: exactly(6379), extraLogs: ["redis.log"]) { _ in
            ["--bind", "127.0.0.1", "--port", "6379", "--dir", service.directory.path, "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
             "--logfile", service.path("redis.log")]
        }
    }

    func stop() { service.stop() }
}

/// memcached on 127.0.0.1:11211 (TCP only).
final class MemcachedServer {
    static let executable = "/usr/bin/memcached"
    let service: ServiceProcess

    init() throws {
        try requireExecutables([Self.executable], package: "memcached")
        let service = try ServiceProcess(name: "conformance-memcached")
        self.service = service
        try service.start(executable: Self.executable, ports: exactly(11211)) { _ in
            ["-l", "127.0.0.1", "-p", "11211", "-U", "0", "-u", "nobody", "-m", "16"]
        }
    }

    func stop() { service.stop() }
}
