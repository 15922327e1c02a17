// justpush static file server: no dependencies, Node 18+. Serves /srv/www, falls back to
// index.html for extension-less paths (client-side routes), never serves dotfiles.
const http = require("http");
const fs = require("fs");
const path = require("path");
const root = path.resolve(process.env.STATIC_ROOT || "/srv/www");
const port = Number(process.env.PORT || 8080);
const types = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml",
  ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
  ".webp": "image/webp", ".avif": "image/avif", ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8", ".xml": "application/xml", ".wasm": "application/wasm",
  ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf",
  ".webmanifest": "application/manifest+json",
};
function send(res, status, file, head) {
  const type = types[path.extname(file).toLowerCase()] || "application/octet-stream";
  const immutable = file.includes(path.sep + "assets" + path.sep) || file.includes(path.sep + "_next" + path.sep);
  res.writeHead(status, {
    "Content-Type": type,
    "Cache-Control": type.startsWith("text/html") ? "no-cache" : immutable ? "public, max-age=31536000, immutable" : "public, max-age=3600",
    "X-Content-Type-Options": "nosniff",
  });
  if (head) return res.end();
  fs.createReadStream(file).on("error", () => res.end()).pipe(res);
}
function resolve(urlPath, done) {
  const file = path.join(root, urlPath);
  if (file !== root && !file.startsWith(root + path.sep)) return done(null);
  if (path.relative(root, file).split(path.sep).some((part) => part.startsWith("."))) return done(null);
  fs.stat(file, (err, st) => {
    if (!err && st.isFile()) return done(file);
    if (!err && st.isDirectory()) {
      const index = path.join(file, "index.html");
      return fs.stat(index, (e2, s2) => done(!e2 && s2.isFile() ? index : null));
    }
    if (!path.extname(file)) {
      const html = file + ".html";
      return fs.stat(html, (e3, s3) => done(!e3 && s3.isFile() ? html : null));
    }
    done(null);
  });
}
http.createServer((req, res) => {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD" });
    return res.end();
  }
  let urlPath;
  try {
    urlPath = decodeURIComponent(new URL(req.url, "http://localhost").pathname);
  } catch (e) {
    res.writeHead(400);
    return res.end();
  }
  const head = req.method === "HEAD";
  resolve(urlPath, (file) => {
    if (file) return send(res, 200, file, head);
    const index = path.join(root, "index.html");
    if (!path.extname(urlPath) && fs.existsSync(index)) return send(res, 200, index, head);
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
    res.end("not found");
  });
}).listen(port, "0.0.0.0", () => console.log("serving " + root + " on port " + port));
process.on("SIGTERM", () => process.exit(0));
