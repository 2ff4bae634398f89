"""nsebox's benchmark servers on 127.0.0.1: an echo server (W3a) and a bulk
sender that writes BULK_BYTES to each connection, then closes it (W3b).
Usage: python3 bench/servers.py ECHO_PORT BULK_PORT BULK_BYTES"""
import socket
import socketserver
import sys
import threading


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class Bulk(socketserver.BaseRequestHandler):
    def handle(self):
        block = b"x" * (1 << 20)
        left = BULK_BYTES
        while left > 0:
            piece = block if left >= len(block) else block[:left]
            self.request.sendall(piece)
            left -= len(piece)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # the port scan's probes and early closes reset connections
    daemon_threads = True
    request_queue_size = 128


if __name__ == "__main__":
    echo_port, bulk_port, BULK_BYTES = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    servers = [Server(("127.0.0.1", echo_port), Echo), Server(("127.0.0.1", bulk_port), Bulk)]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()
