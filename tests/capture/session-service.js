// A small HTTP service that leaks one session per login: `sessions` is a Map nothing ever
// deletes from. `/health` allocates nothing that lives. Listens on $PORT, or on a free port
// without it, and prints `listening PORT` when ready.
//
//   node --inspect=127.0.0.1:0 session-service.js     (tests/capture.rs starts it so)
//   PORT=8080 node --inspect=127.0.0.1:9229 session-service.js   (tests/ci_examples.rs)
'use strict';
const http = require('node:http');
const crypto = require('node:crypto');

class Session {
  constructor(user) {
    this.user = user;
    this.token = crypto.randomBytes(16).toString('hex');
    this.createdAt = Date.now();
    this.cart = [];
  }
}

const sessions = new Map();
let logins = 0;

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/login')) {
    const s = new Session(`user${++logins}`);
    sessions.set(s.token, s);
    res.writeHead(200, {'content-type': 'application/json'});
    return res.end(JSON.stringify({token: s.token}));
  }
  res.writeHead(200, {'content-type': 'text/plain'});
  res.end('ok\n');
});

server.listen(Number(process.env.PORT) || 0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
