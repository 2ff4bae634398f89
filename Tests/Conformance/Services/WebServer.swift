import Foundation

/// nginx on 127.0.0.1:80 (HTTP) and 127.0.0.1:443 (HTTPS, HTTP/2 by ALPN) serving a
/// small site built to give nmap's http-* scripts something to find: a title, a meta
/// generator, an RSS feed, a form, comments, an e-mail address, an affiliate id,
/// a favicon, robots.txt, crossdomain.xml, a .git directory, an /admin/ folder, a
/// backup file, a directory listing (/pub/), a session cookie and security headers.
final class WebServer {
    static let title = "nsebox conformance site"
    let service: ServiceProcess
    let certificate: Certificate

    init() throws {
        try requireExecutables([NginxService.executable], package: "nginx-light")
        let service = try ServiceProcess(name: "conformance-nginx")
        self.service = service
        certificate = try Certificate(in: service)
        for (path, content) in Self.site { try service.write(content, to: "www/" + path) }
        try service.write(Self.config(directory: service.directory.path, certificate: certificate), to: "nginx.conf")
        try service.start(executable: NginxService.executable, ports: exactly(80), extraLogs: ["error.log"]) { _ in
            ["-p", service.directory.path + "/", "-e", service.path("error.log"), "-c", service.path("nginx.conf")]
        }
        guard loopbackAccepts(port: 443) else {
            throw ServiceError.didNotStart(service: "nginx", port: 443, reason: "no HTTPS listener", log: service.logText())
        }
    }

    func stop() { service.stop() }

    static let site: [String: String] = [
        "index.html": """
            <!DOCTYPE html>
            <html>
            <head>
            <title>\(title)</title>
            <meta name="generator" content="nsebox-sitegen 1.0">
            <link rel="alternate" type="application/rss+xml" title="News" href="/feed.rss">
            <script src="http://cdn.example.invalid/lib.js"></script>
            <script>var _gaq = [['_setAccount', 'UA-12345678-1']];</script>
            </head>
            <body>
            <!-- TODO: remove the test account before release -->
            <h1>nsebox conformance</h1>
            <p>Write to webmaster@nsebox-conformance.example.</p>
            <a href="/a.html">a</a> <a href="/dir/b.html">b</a> <a href="/missing.html">gone</a>
            <a href="/feed.rss">feed</a> <a href="/pub/">files</a>
            <form action="/login" method="post">
            <input type="text" name="user"><input type="password" name="pass">
            <input type="submit" value="Log in">
            </form>
            </body>
            </html>

            """,
        "a.html": "<html><head><title>a</title></head><body><a href=\"/index.html\">home</a><!-- second comment --></body></html>\n",
        "a.html~": "<html><body>old copy of a</body></html>\n",
        "dir/b.html": "<html><head><title>b</title></head><body>b page, contact admin@nsebox-conformance.example</body></html>\n",
        "feed.rss": """
            <?xml version="1.0"?>
            <rss version="2.0"><channel><title>nsebox news</title><link>http://127.0.0.1/</link>
            <description>conformance</description></channel></rss>

            """,
        "robots.txt": "User-agent: *\nDisallow: /private/\nDisallow: /admin/\n",
        "crossdomain.xml": """
            <?xml version="1.0"?>
            <cross-domain-policy>
            <allow-access-from domain="*" />
            </cross-domain-policy>

            """,
        "favicon.ico": "nsebox conformance favicon\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".git/config": "[core]\n\trepositoryformatversion = 0\n[remote \"origin\"]\n\turl = https://example.invalid/nsebox-site.git\n",
        ".git/description": "nsebox conformance site\n",
        "admin/index.html": "<html><head><title>admin</title></head><body>admin</body></html>\n",
        "pub/readme.txt": "public files\n",
        "pub/data.txt": "data\n",
    ]

    static func config(directory d: String, certificate: Certificate) -> String {
        """
        daemon off;
        master_process off;
        worker_processes 1;
        pid \(d)/nginx.pid;
        error_log \(d)/error.log info;

        events {
            worker_connections 1024;
        }

        http {
            access_log \(d)/access.log;
            client_body_temp_path \(d)/client_body_temp;
            proxy_temp_path \(d)/proxy_temp;
            fastcgi_temp_path \(d)/fastcgi_temp;
            uwsgi_temp_path \(d)/uwsgi_temp;
            scgi_temp_path \(d)/scgi_temp;
            types {
                text/html html htm;
                text/plain txt;
                text/xml xml;
                application/rss+xml rss;
                image/x-icon ico;
            }
            default_type application/octet-stream;

            server {
                listen 127.0.0.1:80;
                listen 127.0.0.1:443 ssl http2;
                server_name localhost;
                ssl_certificate \(certificate.certificate);
                ssl_certificate_key \(certificate.key);
                root \(d)/www;
                index index.html;
                add_header Set-Cookie "PHPSESSID=nsebox0conformance; path=/";
                add_header X-Frame-Options "DENY" always;
                add_header X-Content-Type-Options "nosniff" always;
                add_header Strict-Transport-Security "max-age=31536000" always;
                add_header Access-Control-Allow-Origin "*" always;
                add_header Access-Control-Allow-Methods "GET, POST" always;
                location /pub/ {
                    autoindex on;
                }
            }
        }

        """
    }
}
