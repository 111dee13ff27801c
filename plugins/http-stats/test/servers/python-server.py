# Test HTTP server (Python http.server, which answers with sendto): the status code comes from
# `?s=<code>`. Listens on 127.0.0.1 (port from argv[1], 0 = any) and prints `listening <port>`.
# With argv[2] and argv[3] (certificate and key files) it serves HTTPS through Python's ssl (OpenSSL).
import ssl
import sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    # Headers and body go out in two sendto calls: without TCP_NODELAY, Nagle + delayed ACK cap keep-alive at ~25 req/s per connection.
    disable_nagle_algorithm = True

    def answer(self):
        length = int(self.headers.get('Content-Length') or 0)
        if length:
            self.rfile.read(length)
        status = int(parse_qs(urlparse(self.path).query).get('s', ['200'])[0])
        self.send_response(status)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', '3')
        self.end_headers()
        self.wfile.write(b'ok\n')

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = answer

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
if len(sys.argv) > 3:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(f'listening {server.server_address[1]}', flush=True)
server.serve_forever()
