// An echo server in Node.js that honours the echobench contract on its own:
// an external backend, registered by its command line (see node_echo.py).
//
//   node echo.js HOST PORT BACKLOG [UNIX_PATH]
"use strict";
const net = require("net");

const [host, port, backlog, unixPath] = process.argv.slice(2);

// allowHalfOpen: on the peer's EOF, keep our side open until the echo is flushed.
const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  if (!unixPath) socket.setNoDelay(true);
  // pipe() is Node's flow control: it pauses reading while a write is backed
  // up and resumes on 'drain'; on EOF it ends our side after the last write.
  socket.pipe(socket);
  socket.on("error", () => socket.destroy()); // a reset ends only this connection
});

server.on("error", (err) => {
  process.stderr.write(`node echo: ${err.message}\n`);
  process.exit(1);
});

function ready() {
  const address = server.address();
  if (typeof address === "string") {
    process.stdout.write(`READY unix:${address}\n`);
  } else {
    const h = address.family === "IPv6" ? `[${address.address}]` : address.address;
    process.stdout.write(`READY ${h}:${address.port}\n`);
  }
}

if (unixPath) {
  server.listen({ path: unixPath, backlog: Number(backlog) }, ready);
} else {
  // Node sets SO_REUSEADDR on listening sockets itself.
  server.listen({ host, port: Number(port), backlog: Number(backlog) }, ready);
}

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(); // for a Unix socket this also removes the socket file
    process.exit(0);
  });
}
